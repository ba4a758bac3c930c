"""Fitting: time split, LightGBM (lambdarank and binary), logistic regression, calibration.

The split is by cut time: validation and test are the latest cuts, and training
keeps only cuts whose label horizon ends before the first validation cut, so no
training label peeks into the held-out period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from introrank.model.baselines import recency_prior
from introrank.model.calibration import SmoothedIsotonic, fit_smoothed_isotonic
from introrank.model.constants import OWNER_ID
from introrank.model.events import SECONDS_PER_DAY
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import PRIOR_FEATURE, IntroRanker
from introrank.model.threads import idle_cpus
from introrank.training.metrics import ndcg_at_k
from introrank.training.snapshots import CUT, LABEL

OBJECTIVES = ("lambdarank", "binary")
# How strongly the booster starts from the recency ranking (0 = not at all); picked on
# validation with the objective. A geometric grid: the raw-score scale differs by objective.
PRIOR_STRENGTHS = (0.0, 1.0, 2.0, 4.0, 8.0)
PRIOR_COLUMN = list(FEATURE_NAMES).index(PRIOR_FEATURE)


@dataclass(frozen=True)
class TrainConfig:
    horizon_days: int = 90
    n_val_cuts: int = 1
    n_test_cuts: int = 1
    n_estimators: int = 800  # a cap: early stopping picks the count (31 leaves ~150, 7 leaves ~300-450)
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 40
    early_stopping_rounds: int = 30
    seed: int = 0
    num_threads: int = field(default_factory=idle_cpus)  # explicit: never LightGBM's default
    prior_strengths: tuple[float, ...] = PRIOR_STRENGTHS
    # Climb the prior grid per objective and stop once this many strengths in a row do not beat
    # the best so far on validation (0: try every strength). 1 is too few for CollegeMsg, whose
    # validation NDCG@10 dips at strength 2 before its best at 4. The default tries them all: with 2,
    # the tests' small network stopped before its best strength, and its model stopped restoring a
    # contact after a real meeting (tests/test_integration_paths.py). 2 halves the grid's fits.
    prior_grid_patience: int = 0
    # The grid's winner is grown again at each of these sizes; the best on validation stays.
    # Small trees are cheaper to score and to explain (TreeSHAP) and win on some data.
    refit_leaves: tuple[int, ...] = (7,)


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


def sorted_by_query(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of one query together (LightGBM's ``group`` counts consecutive rows), input order kept inside."""
    return frame.assign(_q=query_ids(frame)).sort_values("_q", kind="mergesort")


def group_sizes(frame: pd.DataFrame) -> np.ndarray:
    return frame.groupby("_q", sort=True).size().to_numpy()


def prior_score(frame: pd.DataFrame, strength: float) -> np.ndarray | None:
    """The booster's starting score: the recency prior, scaled (None: start from zero)."""
    return strength * recency_prior(frame[PRIOR_FEATURE].to_numpy(dtype=float)) if strength else None


def lightgbm_params(objective: str, config: TrainConfig) -> dict[str, Any]:
    """The estimator arguments every fit step uses, so a local and a Dask booster are the same model."""
    params: dict[str, Any] = {
        "objective": objective,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "colsample_bytree": 0.9,
        "subsample": 0.8,
        "subsample_freq": 1,
        "reg_lambda": 1.0,
        "random_state": config.seed,
        "deterministic": True,
        "verbose": -1,
        "metric": "ndcg" if objective == "lambdarank" else "binary_logloss",
    }
    if objective == "lambdarank":
        params["lambdarank_truncation_level"] = 20
    return params


def fit_kwargs(frame: pd.DataFrame, objective: str, prior_strength: float) -> dict[str, Any]:
    """``fit`` arguments for one query-sorted frame: labels, groups (lambdarank), the prior as ``init_score``."""
    kwargs: dict[str, Any] = {"X": frame[list(FEATURE_NAMES)].to_numpy(np.float64),
                              "y": frame[LABEL].to_numpy(np.float64)}
    if objective == "lambdarank":
        kwargs["group"] = group_sizes(frame)
    init_score = prior_score(frame, prior_strength)
    if init_score is not None:
        kwargs["init_score"] = init_score
    return kwargs


def estimator_class(objective: str, dask: bool = False) -> type:
    if dask:
        from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRanker

        return DaskLGBMRanker if objective == "lambdarank" else DaskLGBMClassifier
    return lgb.LGBMRanker if objective == "lambdarank" else lgb.LGBMClassifier


# A fit step: (split, objective, config, prior strength) -> a booster whose
# ``best_iteration`` validation chose. ``train_ranker`` takes any, local or Dask.
FitStep = Callable[[Split, str, TrainConfig, float], lgb.Booster]


def booster_params(objective: str, config: TrainConfig) -> dict[str, Any]:
    """``lightgbm_params`` as ``lgb.train`` takes them: the very model the estimator grows, rounds apart."""
    params = {k: v for k, v in lightgbm_params(objective, config).items() if k != "n_estimators"}
    params["num_threads"] = config.num_threads
    if objective == "lambdarank":
        params["eval_at"] = [10]
    return params


def lightgbm_datasets(split: Split, objective: str, config: TrainConfig) -> tuple[lgb.Dataset, lgb.Dataset]:
    """The binned training and validation sets (validation binned like training), without a prior."""
    params = booster_params(objective, config)
    train = fit_kwargs(sorted_by_query(split.train), objective, 0.0)
    val = fit_kwargs(sorted_by_query(split.val), objective, 0.0)
    train_set = lgb.Dataset(train["X"], train["y"], group=train.get("group"), feature_name=list(FEATURE_NAMES),
                            params=params, free_raw_data=False).construct()
    val_set = lgb.Dataset(val["X"], val["y"], group=val.get("group"), reference=train_set,
                          params=params, free_raw_data=False).construct()
    return train_set, val_set


def boost(train_set: lgb.Dataset, val_set: lgb.Dataset, objective: str, config: TrainConfig,
          prior_strength: float) -> lgb.Booster:
    """One booster on binned sets, early-stopped on validation; the prior is set as both sets' ``init_score``."""
    for dataset in (train_set, val_set):
        recency = np.asarray(dataset.get_data())[:, PRIOR_COLUMN]  # the raw rows, kept (free_raw_data=False)
        init_score = prior_strength * recency_prior(recency) if prior_strength else None
        dataset.set_init_score(init_score)
        if init_score is None:  # set_init_score(None) leaves the last one in place on a constructed set
            dataset.set_field("init_score", None)
    return lgb.train(booster_params(objective, config), train_set, num_boost_round=config.n_estimators,
                     valid_sets=[val_set], callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def fit_lightgbm(split: Split, objective: str, config: TrainConfig, prior_strength: float = 0.0) -> lgb.Booster:
    """One booster from scratch, early-stopped on validation NDCG@10 (lambdarank) or log loss (binary).

    With a ``prior_strength`` the booster boosts from the recency prior (LightGBM's
    ``init_score``), on validation too, so early stopping judges prior + trees.
    """
    return boost(*lightgbm_datasets(split, objective, config), objective, config, prior_strength)


class ReusedDatasets:
    """The local fit step of the grid: each objective's sets are binned once and reused for every prior.

    Binning is the same for every strength (only ``init_score`` changes), so this grows
    the boosters ``fit_lightgbm`` grows (``tests/test_training.py`` holds them equal).
    """

    def __init__(self) -> None:
        self._sets: dict[str, tuple[Split, lgb.Dataset, lgb.Dataset]] = {}

    def __call__(self, split: Split, objective: str, config: TrainConfig, prior_strength: float) -> lgb.Booster:
        cached = self._sets.get(objective)
        if cached is None or cached[0] is not split:
            cached = self._sets[objective] = (split, *lightgbm_datasets(split, objective, config))
        return boost(cached[1], cached[2], objective, config, prior_strength)


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


def train_ranker(snapshots: pd.DataFrame, config: TrainConfig = TrainConfig(),
                 progress: Callable[[str], None] | None = None, fit: FitStep | None = None) -> TrainResult:
    """Fit both LightGBM objectives over the prior strengths, keep the best on validation NDCG@10, calibrate it.

    ``fit`` grows each candidate's booster: locally by default (``ReusedDatasets``), on
    a Dask cluster with ``introrank.training.distributed``; the grid, the pick and the
    calibration are this function's either way, so both paths choose among the same
    candidates by one rule.

    With ``config.prior_grid_patience`` each objective climbs its strengths in order and
    stops once that many in a row do not beat its best so far: past the best strength
    the score falls (simulated data: no prior wins, so 3 fits per objective at patience 2;
    CollegeMsg: it rises to strength 4 with a dip at 2, then falls).

    The winner is then grown at each of ``config.refit_leaves`` (same objective and
    prior) and the best on validation NDCG@10 is kept: the model's size is chosen on
    validation too, at one fit per size.

    ``validation_ndcg`` holds each objective's best; ``ranker.info["validation_grid"]``
    every (objective, prior strength) tried. On a tie the candidate tried first wins
    (lambdarank before binary, weaker priors first), so within an objective no prior
    is preferred to one that adds nothing.
    """
    fit = fit or ReusedDatasets()
    split = split_by_time(snapshots, config)
    val_q, val_y = query_ids(split.val), split.val[LABEL].to_numpy()
    x_val = split.val[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    candidates: dict[str, IntroRanker] = {}  # by "objective@prior=strength", in the order tried
    grid: dict[str, float] = {}  # the same keys: validation NDCG@10
    most = len(OBJECTIVES) * len(config.prior_strengths)
    for objective in OBJECTIVES:
        best, misses = -np.inf, 0
        for strength in config.prior_strengths:
            booster = fit(split, objective, config, strength)
            name = f"{objective}@prior={strength:g}"
            candidates[name] = IntroRanker(booster=booster, calibrator=None, objective=objective,
                                           prior_strength=strength, info={"best_iteration": booster.best_iteration},
                                           num_threads=config.num_threads)
            grid[name] = ndcg_at_k(val_q, val_y, candidates[name].raw_score(x_val), 10)
            if progress is not None:
                progress(f"{name} ({len(grid)}/{most}): validation NDCG@10 {grid[name]:.4f}")
            misses = misses + 1 if grid[name] <= best else 0
            best = max(best, grid[name])
            if config.prior_grid_patience and misses >= config.prior_grid_patience:
                break
    winner = candidates[max(grid, key=grid.__getitem__)]  # max keeps the first of equals
    leaves = {name: config.num_leaves for name in grid}
    for size in config.refit_leaves:
        resized = replace(config, num_leaves=size)
        booster = fit(split, winner.objective, resized, winner.prior_strength)
        name = f"{winner.objective}@prior={winner.prior_strength:g}@leaves={size}"
        candidates[name] = IntroRanker(booster=booster, calibrator=None, objective=winner.objective,
                                       prior_strength=winner.prior_strength,
                                       info={"best_iteration": booster.best_iteration}, num_threads=config.num_threads)
        grid[name], leaves[name] = ndcg_at_k(val_q, val_y, candidates[name].raw_score(x_val), 10), size
        if progress is not None:
            progress(f"{name}: validation NDCG@10 {grid[name]:.4f}")
    chosen = max(grid, key=grid.__getitem__)
    ranker = candidates[chosen]
    ranker.calibrator = fit_calibrator(ranker.raw_score(x_val), val_y)
    ranker.info.update(prior_strength=ranker.prior_strength, validation_grid=grid, num_trees=ranker.booster.num_trees(),
                       num_leaves=leaves[chosen])
    by_objective = {o: max(v for name, v in grid.items() if candidates[name].objective == o) for o in OBJECTIVES}
    return TrainResult(ranker, fit_logistic(split, config), split, by_objective)
