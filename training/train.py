"""Fitting: time split, LightGBM (lambdarank and binary), logistic regression, calibration.

The split is by cut time: validation and test are the latest cuts, and training
keeps only cuts whose label horizon ends before the first validation cut, so no
training label peeks into the held-out period.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from model.calibration import SmoothedIsotonic, fit_smoothed_isotonic
from model.constants import OWNER_ID
from model.events import SECONDS_PER_DAY
from model.features import FEATURE_NAMES
from model.ranker import IntroRanker
from training.metrics import ndcg_at_k
from training.snapshots import CUT, LABEL

OBJECTIVES = ("lambdarank", "binary")


@dataclass(frozen=True)
class TrainConfig:
    horizon_days: int = 90
    n_val_cuts: int = 1
    n_test_cuts: int = 1
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 40
    early_stopping_rounds: int = 30
    seed: int = 0
    num_threads: int = 0


@dataclass
class Split:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame

    def describe(self) -> dict[str, object]:
        return {f"{name}_cuts": sorted(frame[CUT].unique().tolist())
                for name, frame in (("train", self.train), ("val", self.val), ("test", self.test))}


def split_by_time(snapshots: pd.DataFrame, config: TrainConfig) -> Split:
    cuts = np.sort(snapshots[CUT].unique())
    need = config.n_val_cuts + config.n_test_cuts + 1
    if len(cuts) < need:
        raise ValueError(f"need at least {need} cuts for train/validation/test, have {len(cuts)}: "
                         "use a longer history or a smaller --cut-every-days")
    test_cuts = cuts[-config.n_test_cuts:]
    val_cuts = cuts[-(config.n_test_cuts + config.n_val_cuts): -config.n_test_cuts]
    train_cuts = cuts[cuts + config.horizon_days * SECONDS_PER_DAY <= val_cuts[0]]
    if len(train_cuts) == 0:
        train_cuts = cuts[: -(config.n_test_cuts + config.n_val_cuts)]
    pick = snapshots[CUT].isin
    return Split(snapshots[pick(train_cuts)], snapshots[pick(val_cuts)], snapshots[pick(test_cuts)])


def query_ids(frame: pd.DataFrame) -> np.ndarray:
    """One query per (owner, cut): the list one owner sees at one time."""
    return pd.factorize(frame[OWNER_ID].astype(str) + "@" + frame[CUT].astype(str))[0]


def _sorted_by_query(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(_q=query_ids(frame)).sort_values("_q", kind="mergesort")


def _group_sizes(frame: pd.DataFrame) -> np.ndarray:
    return frame.groupby("_q", sort=True).size().to_numpy()


def fit_lightgbm(split: Split, objective: str, config: TrainConfig) -> lgb.Booster:
    """One booster, early-stopped on validation NDCG@10 (lambdarank) or log loss (binary)."""
    train, val = _sorted_by_query(split.train), _sorted_by_query(split.val)
    features = list(FEATURE_NAMES)
    params = {
        "objective": objective,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": config.seed,
        "deterministic": True,
        "num_threads": config.num_threads,
        "verbosity": -1,
    }
    if objective == "lambdarank":
        params.update(metric="ndcg", eval_at=[10], lambdarank_truncation_level=20)
    else:
        params.update(metric="binary_logloss")
    grouped = objective == "lambdarank"
    dtrain = lgb.Dataset(train[features], train[LABEL], group=_group_sizes(train) if grouped else None,
                         free_raw_data=True)
    dval = lgb.Dataset(val[features], val[LABEL], group=_group_sizes(val) if grouped else None,
                       reference=dtrain)
    return lgb.train(params, dtrain, num_boost_round=config.n_estimators, valid_sets=[dval],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def fit_logistic(split: Split, config: TrainConfig) -> Pipeline:
    """The linear comparison model; missing values imputed with an indicator."""
    pipeline = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                             LogisticRegression(max_iter=500, C=1.0))
    features = list(FEATURE_NAMES)
    return pipeline.fit(split.train[features].to_numpy(), split.train[LABEL].to_numpy())


def fit_calibrator(raw_scores: np.ndarray, labels: np.ndarray) -> SmoothedIsotonic:
    return fit_smoothed_isotonic(raw_scores, labels)


@dataclass
class TrainResult:
    ranker: IntroRanker
    logistic: Pipeline
    split: Split
    validation_ndcg: dict[str, float] = field(default_factory=dict)


def train_ranker(snapshots: pd.DataFrame, config: TrainConfig = TrainConfig()) -> TrainResult:
    """Fit both LightGBM objectives, keep the better on validation NDCG@10, calibrate it."""
    split = split_by_time(snapshots, config)
    val_q, val_y = query_ids(split.val), split.val[LABEL].to_numpy()
    x_val = split.val[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    boosters, scores = {}, {}
    for objective in OBJECTIVES:
        boosters[objective] = fit_lightgbm(split, objective, config)
        raw = boosters[objective].predict(x_val, raw_score=True)
        scores[objective] = ndcg_at_k(val_q, val_y, raw, 10)
    best = max(OBJECTIVES, key=lambda o: scores[o])
    raw_val = boosters[best].predict(x_val, raw_score=True)
    ranker = IntroRanker(booster=boosters[best], calibrator=fit_calibrator(raw_val, val_y),
                         objective=best, info={"best_iteration": boosters[best].best_iteration})
    return TrainResult(ranker, fit_logistic(split, config), split, scores)
