"""MLflow, write side: log the pyfunc, register a version, move the champion alias.

Serving loads ``models:/introrank@champion`` (an alias, never a search over
runs), so moving the alias is what promotes a model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from introrank.model.constants import CHAMPION_ALIAS, MODEL_NAME
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.service.store.model_registry import (
    RANKER_ARTIFACT,
    Champion,
    IntroRankPyfunc,
)


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
