"""The one settings object. Nothing else in introrank reads the environment.

Every value can be set with an ``INTRORANK_`` variable (``INTRORANK_DATA_DIR``,
``INTRORANK_DATABASE_URL`` ...). Derived defaults (the SQLite file, the MLflow
store) live under the data directory so one folder holds a whole installation.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from introrank.model.threads import SCORE_THREADS, idle_cpus


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
    served_log_wait_seconds: float = Field(
        default=0.25, ge=0, description="How long a recommendations GET waits for the lock to log its list; past "
        "that (a bulk import holds it) the log is queued and written later, and the list is answered anyway.")
    served_log_keep_seconds: float = Field(
        default=300.0, gt=0, description="How long a queued served-list log is retried before it is dropped "
        "(counted in introrank_served_lists_logged_total{result=\"dropped\"}).")
    model_poll_seconds: float = Field(default=10.0, description="How often each process asks the registry "
                                      "whether a loaded tenant's champion moved (every replica picks it up within "
                                      "this); 0 = off.")
    score_cache_seconds: float = Field(
        default=60.0, description="Reuse an owner's scored list this long unless their data or the model changes "
        "first (the response's as_of says when it was scored); 0 = score every request.")
    profile_cache_seconds: float = Field(
        default=600.0, ge=0, description="Keep an owner's profile features (contact rows, static features) at "
        "most this long, even while no owner or contact edit ends them first; 0 = no profile cache.")
    model_cache_size: int = Field(default=64, ge=1, description="Tenant models kept loaded per process (LRU).")
    compile_models: bool = Field(default=True, description="Compile each loaded model (lleaves) in the "
                                 "background and score with it once it matches LightGBM on probe rows; "
                                 "LightGBM scores until then, or for good when false.")
    compiled_models_dir: Path | None = Field(
        default=None, description="Folder of compiled models kept between processes: the first worker (or "
        "replica sharing the folder) compiles a model, the others and later restarts load it; default "
        "data_dir/compiled.")
    gate_min_queries: int = Field(default=30, ge=1, description="Test queries with a positive the champion gate "
                                  "needs before it promotes anything.")
    train_threads: int | None = Field(default=None, ge=1, description="LightGBM threads for training; default: "
                                      "the CPUs this process may use minus those the load average says are busy "
                                      "(at least 1; more threads than idle CPUs make LightGBM crawl).")
    score_threads: int = Field(default=SCORE_THREADS, ge=1, description="LightGBM threads for scoring one "
                               "request's candidates (each server worker scores beside other requests).")
    max_running_jobs: int = Field(default=1, ge=1, description="Retrain jobs running at once, over all tenants.")
    job_stale_seconds: float = Field(default=120.0, gt=0, description="A running job whose worker has not "
                                     "reported for this long is marked failed.")
    webhook_allow_http: bool = Field(default=False, description="Accept http:// webhook URLs (on-premises "
                                     "receivers without TLS); https only when false.")
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, description="CIDRs (JSON list) webhook targets may resolve to although not public, "
        'e.g. ["10.20.0.0/16"] for an on-premises CRM; empty = public addresses only.')

    webhook_secret_key: SecretStr | None = Field(
        default=None, description="Fernet key that encrypts webhook signing secrets at rest (several, comma-"
        "separated, newest first, while rotating); unset: webhooks cannot be registered or pushed.")

    @field_validator("webhook_secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for position, key in enumerate(_split_keys(value), start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ValueError(f"key {position} is not a Fernet key (urlsafe base64 of 32 bytes)") from None
        return value

    @property
    def webhook_secret_keys(self) -> list[str]:
        """The keys of ``webhook_secret_key``, newest first; empty when unset."""
        return [] if self.webhook_secret_key is None else _split_keys(self.webhook_secret_key)

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
    def resolved_compiled_models_dir(self) -> Path:
        return (self.compiled_models_dir or self.data_dir / "compiled").resolve()

    @property
    def resolved_train_threads(self) -> int:
        return self.train_threads or idle_cpus()

    @property
    def artifact_root(self) -> str:
        return (self.data_dir / "mlartifacts").resolve().as_uri()


def _split_keys(value: SecretStr) -> list[str]:
    return [k.strip() for k in value.get_secret_value().split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
