"""The served app with every part wired in: the one place the HTTP edge meets training.

``introrank serve`` (uvicorn's factory) and the tests build the app here, so the
retrain endpoint runs ``introrank.training.retrain`` without ``service.api``
importing training.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from introrank.service.api.app import create_app as build_app
from introrank.service.settings import Settings
from introrank.training.retrain import retrain


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The full app: ``engine`` overrides the configured database (tests pin a schema this way)."""
    return build_app(settings, engine, retrain=retrain)
