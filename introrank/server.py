"""Serving as ``introrank serve`` runs it: uvicorn's workers plus a job worker beside them.

The HTTP API only queues retrain jobs; the worker (``introrank.worker``) runs
them. Starting it here as a child process keeps the embedded setup one command;
``--no-worker`` leaves it to a separately deployed ``introrank worker``.
"""

from __future__ import annotations

import subprocess
import sys

import uvicorn

APP_FACTORY = "introrank.service.api.app:create_app"


def start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "introrank.cli", "worker"])


def serve(host: str, port: int, workers: int, with_worker: bool = True, http: str = "auto",
          loop: str = "auto") -> None:
    """``http`` / ``loop``: uvicorn's choices (``auto`` takes httptools / uvloop when installed)."""
    child = start_worker() if with_worker else None
    try:
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="warning",
                    http=http, loop=loop)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
