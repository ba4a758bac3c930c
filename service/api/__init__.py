"""The HTTP edge: the FastAPI app, its routes, dependencies, metrics and logs."""
