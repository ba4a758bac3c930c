"""The model registry, read side: where MLflow lives, the model files, and each tenant's champion.

Every tenant has its own registered model (``introrank-<tenant>``) and operators
train a shared base model (``introrank-base``); each has an alias ``champion``.
Serving loads a champion by that alias (never by searching runs) and only as data:
LightGBM's text format and a JSON document (``IntroRanker.from_artifacts``). The
pyfunc wrapper that ``mlflow models serve`` uses is built from the same two files;
the service never unpickles anything from the registry, so whoever can write to
it can change scores but not run code in the service. Training
(``introrank.training.registry``) logs, registers and moves the alias.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.model import PythonModel

from introrank.model.constants import BASE_MODEL, CHAMPION_ALIAS, MODEL_NAME
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.service.settings import Settings

EXPERIMENT = "introrank"
BOOSTER_ARTIFACT, META_ARTIFACT = "booster", "ranker_meta"
BOOSTER_FILE, META_FILE = "booster.txt", "ranker.json"


def registered_name(tenant: str | None) -> str:
    """The registered model of ``tenant``; ``None`` is the operator's base model."""
    return f"{MODEL_NAME}-{BASE_MODEL if tenant is None else tenant}"


def version_label(tenant: str | None, version: str) -> str:
    """What ``model_version`` says: ``acme:3`` for a tenant's own model, ``base:2`` for the base."""
    return f"{BASE_MODEL if tenant is None else tenant}:{version}"


class IntroRankPyfunc(PythonModel):
    """Pyfunc face of ``IntroRanker`` for ``mlflow models serve``: feature rows in, probabilities out.

    It holds no state of its own: ``load_context`` rebuilds the ranker from the
    two data files, as the service does.
    """

    def load_context(self, context: Any) -> None:
        self.ranker = IntroRanker.from_artifacts(Path(context.artifacts[BOOSTER_ARTIFACT]).read_text(),
                                                 Path(context.artifacts[META_ARTIFACT]).read_text())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        probability = self.ranker.predict_proba(model_input[list(FEATURE_NAMES)].astype(float))
        return pd.DataFrame({"probability": probability})


def configure_tracking(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists.

    Called by commands, never at import: importing introrank has no side effects.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    mlflow.set_registry_uri(settings.resolved_tracking_uri)
    client = MlflowClient()
    if client.get_experiment_by_name(EXPERIMENT) is None:
        artifact_location = None if settings.mlflow_tracking_uri else settings.artifact_root
        client.create_experiment(EXPERIMENT, artifact_location=artifact_location)
    mlflow.set_experiment(EXPERIMENT)
    return client


@dataclass(frozen=True)
class Champion:
    ranker: IntroRanker
    version: str  # the registry's version number, e.g. "3"
    label: str  # what responses say, e.g. "acme:3" or "base:2"
    run_id: str | None
    created_at: float | None


def champion_version(client: MlflowClient, tenant: str | None, alias: str = CHAMPION_ALIAS) -> str | None:
    """The version the alias points at, without loading the model (cheap enough to poll)."""
    try:
        return str(client.get_model_version_by_alias(registered_name(tenant), alias).version)
    except MlflowException:
        return None


def load_champion(client: MlflowClient, tenant: str | None, alias: str = CHAMPION_ALIAS) -> Champion | None:
    """The ranker behind ``models:/introrank-<tenant>@champion`` (None: the base), or None when none.

    Only the booster text and the metadata JSON are downloaded and parsed.
    """
    name = registered_name(tenant)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    root = client.get_model_version_download_uri(name, version.version).rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        booster = mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/artifacts/{BOOSTER_FILE}", dst_path=tmp)
        meta = mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/artifacts/{META_FILE}", dst_path=tmp)
        ranker = IntroRanker.from_artifacts(Path(booster).read_text(), Path(meta).read_text())
    ranker.check_schema()
    return Champion(ranker, str(version.version), version_label(tenant, str(version.version)), version.run_id,
                    version.creation_timestamp / 1000 if version.creation_timestamp else None)
