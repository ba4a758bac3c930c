"""The one settings object. Nothing else in introrank reads the environment.

Every value can be set with an ``INTRORANK_`` variable (``INTRORANK_DATA_DIR``,
``INTRORANK_DATABASE_URL`` ...). Derived defaults (the SQLite file, the MLflow
store) live under the data directory so one folder holds a whole installation.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTRORANK_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the database and MLflow store.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite under data_dir when unset.")
    mlflow_tracking_uri: str | None = Field(default=None,
                                            description="MLflow tracking URI; SQLite under data_dir when unset.")
    log_level: str = "INFO"
    max_body_bytes: int = 50 * 1024 * 1024
    store_lock_timeout_seconds: float = Field(
        default=30.0, ge=0, description="How long a write waits for a database lock (SQLite busy timeout, "
        "PostgreSQL lock_timeout) before the request answers 503 with Retry-After.")
    model_poll_seconds: float = Field(default=10.0, description="How often each process asks the registry "
                                      "whether a loaded tenant's champion moved (every replica picks it up within "
                                      "this); 0 = off.")
    score_cache_seconds: float = Field(
        default=60.0, description="Reuse an owner's scored list this long unless their data or the model changes "
        "first (the response's as_of says when it was scored); 0 = score every request.")
    model_cache_size: int = Field(default=64, ge=1, description="Tenant models kept loaded per process (LRU).")
    compile_models: bool = Field(default=True, description="Compile each loaded model (lleaves) in the "
                                 "background and score with it once it matches LightGBM on probe rows; "
                                 "LightGBM scores until then, or for good when false.")
    gate_min_queries: int = Field(default=30, ge=1, description="Test queries with a positive the champion gate "
                                  "needs before it promotes anything.")
    train_threads: int | None = Field(default=None, ge=1, description="LightGBM threads for training; default: "
                                      "the CPUs this process may use.")
    max_running_jobs: int = Field(default=1, ge=1, description="Retrain jobs running at once, over all tenants.")
    job_stale_seconds: float = Field(default=120.0, gt=0, description="A running job whose worker has not "
                                     "reported for this long is marked failed.")
    webhook_allow_http: bool = Field(default=False, description="Accept http:// webhook URLs (on-premises "
                                     "receivers without TLS); https only when false.")
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, description="CIDRs (JSON list) webhook targets may resolve to although not public, "
        'e.g. ["10.20.0.0/16"] for an on-premises CRM; empty = public addresses only.')

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _cidrs(cls, networks: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(n.strip(), strict=False)) for n in networks]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'introrank.db').resolve()}"

    @property
    def resolved_tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def resolved_train_threads(self) -> int:
        return self.train_threads or max(1, len(os.sched_getaffinity(0)))

    @property
    def artifact_root(self) -> str:
        return (self.data_dir / "mlartifacts").resolve().as_uri()


@lru_cache
def get_settings() -> Settings:
    return Settings()
