"""MLflow: the tracking store, the pyfunc model, registration and the champion alias.

Serving loads ``models:/introrank@champion`` (an alias, never a search over
runs), so moving the alias is what promotes a model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from model.constants import CHAMPION_ALIAS, MODEL_NAME
from model.features import FEATURE_NAMES
from model.ranker import IntroRanker
from service.settings import Settings

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


def log_ranker(ranker: IntroRanker, example: pd.DataFrame) -> str:
    """Log the pyfunc (signature + input example) in the active run; returns its model URI."""
    example = example[list(FEATURE_NAMES)].astype(float).head(5).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ranker.joblib"
        joblib.dump(ranker, path)
        output = pd.DataFrame({"probability": ranker.predict_proba(example)})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=IntroRankPyfunc(),
            artifacts={RANKER_ARTIFACT: str(path)},
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=["introrank", "lightgbm", "scikit-learn", "pandas", "joblib"],
        )
    return info.model_uri


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


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    version: str
    new_ndcg: float
    champion_version: str | None
    champion_ndcg: float | None

    def describe(self) -> str:
        if self.champion_version is None:
            return f"version {self.version} is champion (no champion before); NDCG@10 {self.new_ndcg:.4f}"
        verb = "promoted to champion" if self.promoted else "not promoted"
        return (f"version {self.version} {verb}: NDCG@10 {self.new_ndcg:.4f} vs champion "
                f"v{self.champion_version} {self.champion_ndcg:.4f} on the same test cuts")


def register_and_gate(client: MlflowClient, model_uri: str, new_ndcg: float,
                      champion: Champion | None, champion_ndcg: float | None) -> GateDecision:
    """Register a version; move ``champion`` to it only if strictly better (or none exists)."""
    version = mlflow.register_model(model_uri, MODEL_NAME).version
    promote = champion is None or champion_ndcg is None or np.isnan(champion_ndcg) or new_ndcg > champion_ndcg
    if promote:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, str(version))
    return GateDecision(promote, str(version), new_ndcg,
                        champion.version if champion else None, champion_ndcg)
