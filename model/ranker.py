"""The trained ranker as one object: booster, calibrator and the feature schema.

The raw score is the booster's output plus ``prior_strength`` times the recency
prior (``introrank.model.baselines.recency_prior``): the booster was trained with that
prior as its starting score, so it only holds the corrections to it. Training
picks the strength on validation; 0 means no prior.

Scores from a lambdarank booster have no scale, so a (smoothed) isotonic calibrator fitted
on held-out cuts turns them into probabilities; both travel together with the
feature names and schema version they were trained on, so serving rebuilds
exactly what training used and refuses a model from another schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from introrank.model.baselines import recency_prior
from introrank.model.calibration import SmoothedIsotonic
from introrank.model.compiled import CompiledBooster, compile_booster
from introrank.model.contribution_memo import ContributionMemo
from introrank.model.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from introrank.model.threads import SCORE_THREADS

PRIOR_FEATURE = "days_since_last_event"  # the recency prior reads this feature only
ARTIFACT_FORMAT = 1  # version of the (booster text, metadata JSON) pair below


class ModelSchemaError(RuntimeError):
    """The model was trained on another feature schema than this code computes."""


@dataclass
class IntroRanker:
    booster: lgb.Booster
    calibrator: SmoothedIsotonic | None  # None only while training compares candidates
    objective: str
    feature_names: tuple[str, ...] = FEATURE_NAMES
    schema_version: str = FEATURE_SCHEMA_VERSION
    info: dict[str, Any] = field(default_factory=dict)
    num_threads: int = SCORE_THREADS  # passed to every predict: never LightGBM's default
    prior_strength: float = 0.0  # models pickled before the prior existed load with 0: no prior
    # The booster compiled (``introrank.model.compiled``), once ``compile`` succeeded: the same raw scores, faster.
    compiled: CompiledBooster | None = field(default=None, repr=False, compare=False)
    # Contributions remembered by the split decisions of each row (``introrank.model.contribution_memo``).
    memo: ContributionMemo | None = field(default=None, repr=False, compare=False)

    def check_schema(self) -> None:
        if self.schema_version != FEATURE_SCHEMA_VERSION or tuple(self.feature_names) != FEATURE_NAMES:
            raise ModelSchemaError(
                f"model feature schema {self.schema_version!r} does not match this code's "
                f"{FEATURE_SCHEMA_VERSION!r}; retrain with `introrank train`"
            )

    def _matrix(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(features, pd.DataFrame):
            columns = features.columns
            same = len(columns) == len(self.feature_names) and all(  # the assembled matrix: no column lookup
                a == b for a, b in zip(columns, self.feature_names, strict=True))
            features = features.to_numpy(dtype=np.float64) if same \
                else features[list(self.feature_names)].to_numpy(dtype=np.float64)
        return np.ascontiguousarray(features, dtype=np.float64)

    def _prior(self, x: np.ndarray) -> np.ndarray:
        """The prior's part of the raw score, per row (zeros without a prior)."""
        if not self.prior_strength:
            return np.zeros(x.shape[0])
        return self.prior_strength * recency_prior(x[:, self.feature_names.index(PRIOR_FEATURE)])

    def raw_score(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        x = self._matrix(features)
        if x.shape[0] == 0:
            return np.empty(0)
        compiled = self.compiled
        raw = compiled.predict(x) if compiled is not None else self.booster.predict(
            x, raw_score=True, num_threads=self.num_threads)
        return np.asarray(raw) + self._prior(x)

    def compile(self, cache_dir: Path | None = None) -> bool:
        """Compile the booster for ``raw_score`` (seconds of CPU: call it off the request path).

        Until it returns, and for good when compiling fails or the compiled forest
        differs from LightGBM on any probe row, LightGBM scores; either way the scores are the same.
        ``cache_dir`` keeps the machine code for other processes (``introrank.model.compiled``).
        """
        self.compiled = compile_booster(self.booster, cache_dir)
        self.contribution_memo()
        return self.compiled is not None

    def contribution_memo(self) -> ContributionMemo:
        """The memo of this booster's contributions, built on first use (reads the trees once)."""
        memo = self.memo
        if memo is None:  # two threads may both build one: either serves, the last is kept
            memo = self.memo = ContributionMemo(self.booster, self.num_threads)
        return memo

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator is None:
            raise RuntimeError("this ranker has not been calibrated yet")
        return self.calibrator.predict(raw) if raw.size else raw

    def predict_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probability of a useful intro or referral within the horizon."""
        return self.calibrate(self.raw_score(features))

    def contributions(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Per-feature contributions to the raw score, shape (n, n_features + 1 bias).

        The prior is a function of the recency feature alone, so its part is
        that feature's contribution too: rows still sum to ``raw_score``, and
        "you last spoke N days ago" is a reason whenever recency carried the pick.
        """
        x = self._matrix(features)
        if x.shape[0] == 0:
            return np.empty((0, len(self.feature_names) + 1))
        contrib = self.contribution_memo().contributions(x)
        contrib[:, self.feature_names.index(PRIOR_FEATURE)] += self._prior(x)
        return contrib

    def feature_importance(self) -> pd.Series:
        gains = self.booster.feature_importance(importance_type="gain")
        return pd.Series(gains, index=list(self.feature_names)).sort_values(ascending=False)

    def to_artifacts(self) -> tuple[str, str]:
        """The model as data: LightGBM's text format and a JSON document for everything else.

        Loading these back (``from_artifacts``) runs no code from the files, unlike
        a pickle: whoever can write to the registry can change scores, not run code.
        """
        if self.calibrator is None:
            raise RuntimeError("only a calibrated ranker is saved")
        meta = {
            "format": ARTIFACT_FORMAT,
            "objective": self.objective,
            "feature_names": list(self.feature_names),
            "schema_version": self.schema_version,
            "prior_strength": float(self.prior_strength),
            "calibrator": {"thresholds": self.calibrator.thresholds.tolist(),
                           "values": self.calibrator.values.tolist()},
            "info": json.loads(json.dumps(self.info, default=float)),
        }
        return self.booster.model_to_string(), json.dumps(meta, indent=1, allow_nan=False)

    @classmethod
    def from_artifacts(cls, booster_text: str, meta_json: str) -> IntroRanker:
        meta = json.loads(meta_json)
        if meta.get("format") != ARTIFACT_FORMAT:
            raise ModelSchemaError(f"model artifact format {meta.get('format')!r} is not {ARTIFACT_FORMAT}")
        calibrator = SmoothedIsotonic(np.asarray(meta["calibrator"]["thresholds"], dtype=float),
                                      np.asarray(meta["calibrator"]["values"], dtype=float))
        return cls(lgb.Booster(model_str=booster_text), calibrator, str(meta["objective"]),
                   tuple(meta["feature_names"]), str(meta["schema_version"]), dict(meta.get("info", {})),
                   prior_strength=float(meta["prior_strength"]))
