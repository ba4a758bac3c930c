"""MLflow, write side: log the model files and its pyfunc, register a version, move the alias.

A version is registered under its tenant's model (``introrank-<tenant>``) or the
base model, tagged with who it belongs to and what it was trained on; the alias
``champion`` moves only when the gate (``introrank.training.gate``) says so.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from introrank.model.constants import BASE_MODEL, CHAMPION_ALIAS
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.service.store.model_registry import (
    BOOSTER_ARTIFACT,
    BOOSTER_FILE,
    META_ARTIFACT,
    META_FILE,
    IntroRankPyfunc,
    registered_name,
    version_label,
)
from introrank.training.gate import GateVerdict


def synthetic_example() -> pd.DataFrame:
    """The MLflow input example: made-up feature rows, never a real person's.

    Two rows: a tie untouched for a while, and one active this week.
    """
    quiet = {name: 0.0 for name in FEATURE_NAMES}
    active = {name: 1.0 for name in FEATURE_NAMES}
    for row, days in ((quiet, 120.0), (active, 3.0)):
        for name in FEATURE_NAMES:
            if name.startswith("days_"):
                row[name] = days
    return pd.DataFrame([quiet, active], columns=list(FEATURE_NAMES), dtype=float)


def log_ranker(ranker: IntroRanker) -> str:
    """Log the model files and the pyfunc built on them in the active run; returns the model URI."""
    example = synthetic_example()
    booster_text, meta_json = ranker.to_artifacts()
    with tempfile.TemporaryDirectory() as tmp:
        booster, meta = Path(tmp) / BOOSTER_FILE, Path(tmp) / META_FILE
        booster.write_text(booster_text)
        meta.write_text(meta_json)
        output = pd.DataFrame({"probability": ranker.predict_proba(example)})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=IntroRankPyfunc(),
            artifacts={BOOSTER_ARTIFACT: str(booster), META_ARTIFACT: str(meta)},
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=["introrank", "lightgbm", "scikit-learn", "pandas"],
        )
    return info.model_uri


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    version: str  # label of the registered version, e.g. "acme:4"
    reason: str
    champion_version: str | None  # label of the champion it was compared with
    verdict: GateVerdict

    @property
    def new_ndcg(self) -> float | None:
        return self.verdict.new_ndcg

    @property
    def champion_ndcg(self) -> float | None:
        return self.verdict.champion_ndcg

    def describe(self) -> str:
        against = f" (compared with {self.champion_version})" if self.champion_version else ""
        return f"version {self.version} {self.reason}{against}"

    def to_dict(self) -> dict[str, object]:
        return {"promoted": self.promoted, "version": self.version, "reason": self.reason,
                "champion_version": self.champion_version, **self.verdict.to_dict()}


def register_and_gate(client: MlflowClient, model_uri: str, tenant: str | None, verdict: GateVerdict,
                      champion_label: str | None, trained_on: list[str]) -> GateDecision:
    """Register a version of ``tenant``'s model (None: the base) and move its alias if the verdict says so."""
    name = registered_name(tenant)
    version = str(mlflow.register_model(model_uri, name).version)
    tags = {"tenant": tenant or "", "kind": "tenant" if tenant else BASE_MODEL,
            "trained_on": ",".join(trained_on), "champion_gate": verdict.reason}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if verdict.promote:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return GateDecision(verdict.promote, version_label(tenant, version), verdict.reason, champion_label, verdict)
