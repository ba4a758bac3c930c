"""Serving: the served model, the caches and the ranking of an owner's contacts."""
