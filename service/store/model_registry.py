"""The model registry, read side: where MLflow lives, the pyfunc format and the champion.

Serving loads ``models:/introrank@champion`` (an alias, never a search over
runs); training (``introrank.training.registry``) logs, registers and moves the
alias. Both stand on this module, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from introrank.model.constants import CHAMPION_ALIAS, MODEL_NAME
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.service.settings import Settings

EXPERIMENT = "introrank"
RANKER_ARTIFACT = "ranker"


class IntroRankPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc face of ``IntroRanker``: feature rows in, calibrated probabilities out.

    This is what ``mlflow models serve`` serves; the introrank service unwraps it
    to reach the ranker's contributions for explanations.
    """

    def load_context(self, context: Any) -> None:
        self.ranker: IntroRanker = joblib.load(context.artifacts[RANKER_ARTIFACT])

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
    version: str
    run_id: str | None
    created_at: float | None


def champion_version(client: MlflowClient, alias: str = CHAMPION_ALIAS) -> str | None:
    """The version the alias points at, without loading the model (cheap enough to poll)."""
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
    except MlflowException:
        return None


def load_champion(client: MlflowClient | None = None, alias: str = CHAMPION_ALIAS) -> Champion | None:
    """The ranker behind ``models:/introrank@champion``, or None when there is none."""
    client = client or MlflowClient()
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{alias}")
    ranker: IntroRanker = pyfunc.unwrap_python_model().ranker
    ranker.check_schema()
    return Champion(ranker, str(version.version), version.run_id,
                    version.creation_timestamp / 1000 if version.creation_timestamp else None)
