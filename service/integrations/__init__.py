"""Integrations with the outside: signed webhooks and the Python client."""
