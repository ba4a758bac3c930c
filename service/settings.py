"""The one settings object. Nothing else in introrank reads the environment.

Every value can be set with an ``INTRORANK_`` variable (``INTRORANK_DATA_DIR``,
``INTRORANK_DATABASE_URL`` ...). Derived defaults (the SQLite file, the MLflow
store) live under the data directory so one folder holds a whole installation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTRORANK_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the database and MLflow store.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite under data_dir when unset.")
    mlflow_tracking_uri: str | None = Field(default=None,
                                            description="MLflow tracking URI; SQLite under data_dir when unset.")
    log_level: str = "INFO"
    max_body_bytes: int = 50 * 1024 * 1024
    model_poll_seconds: float = Field(default=0.0, description="Poll the registry for a new champion; 0 = off.")
    score_cache_seconds: float = Field(
        default=60.0, description="Reuse an owner's scored list this long unless their data or the model changes "
        "first (the response's as_of says when it was scored); 0 = score every request.")

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
    def artifact_root(self) -> str:
        return (self.data_dir / "mlartifacts").resolve().as_uri()


@lru_cache
def get_settings() -> Settings:
    return Settings()
