"""Scaling training out on Dask: the same snapshot code, the same candidates, boosters grown on the cluster.

With ``--dask-scheduler ADDRESS`` (or a ``distributed.Client`` in tests), each
cut's snapshot is a task running ``introrank.training.snapshots.snapshot_at`` on a worker
(the very function the local path runs, so no skew). Training is
``introrank.training.train.train_ranker`` with another fit step: every candidate
(lambdarank and binary, each at every recency-prior strength) grows with
``lightgbm.dask.DaskLGBMRanker`` / ``DaskLGBMClassifier`` from the same estimator
arguments and the same prior as ``init_score``, on partitions that never split a
query (one owner's list at one cut). The grid, the pick on validation NDCG@10 and
the calibration are ``train_ranker``'s, so both paths choose by one rule.

``lightgbm.dask`` has no early stopping (it hangs: LightGBM issues #3712, #6351), so
each booster grows all ``n_estimators`` trees and ``best_iteration`` replays
``lightgbm.early_stopping`` at home on the validation curve, with the metric the
local booster stops on: NDCG@10 (ours, which with 0/1 labels orders iterations as
LightGBM's does) or binary log loss.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from introrank.model.constants import OWNER_ID
from introrank.model.features import FEATURE_NAMES
from introrank.training.metrics import ndcg_at_k
from introrank.training.snapshots import CUT, LABEL, SnapshotConfig, prepare_snapshot_inputs, snapshot_at
from introrank.training.train import (
    Split,
    TrainConfig,
    TrainResult,
    estimator_class,
    fit_kwargs,
    lightgbm_params,
    prior_score,
    sorted_by_query,
    train_ranker,
)


def connect(address: str) -> Any:
    from distributed import Client

    return Client(address)


def build_snapshots_dask(events: pd.DataFrame, owners: pd.DataFrame, contacts: pd.DataFrame, client: Any,
                         config: SnapshotConfig = SnapshotConfig()) -> pd.DataFrame:
    """One task per cut; inputs are scattered once and shared by every task."""
    inputs = prepare_snapshot_inputs(events, owners, contacts, config)
    shared = client.scatter([inputs.arrays, inputs.success, inputs.pairs, inputs.static], broadcast=True)
    futures = [client.submit(snapshot_at, *shared, cut, config.horizon_days, pure=False) for cut in inputs.cuts]
    return pd.concat(client.gather(futures), ignore_index=True)


def _partitions(frame: pd.DataFrame, n_parts: int) -> list[pd.DataFrame]:
    """Split by owner so no query (owner, cut) spans two partitions; sorted by query inside."""
    owners = frame[OWNER_ID].unique()
    parts = [sorted_by_query(frame[frame[OWNER_ID].isin(chunk)])
             for chunk in np.array_split(owners, max(1, min(n_parts, len(owners))))]
    return [p for p in parts if len(p)]


def _dask_fit_kwargs(parts: list[pd.DataFrame], objective: str, prior_strength: float) -> dict[str, Any]:
    """``fit_kwargs`` of each partition, one Dask chunk per partition, so X, y, group and init_score align."""
    import dask.array as da

    per_part = [fit_kwargs(p, objective, prior_strength) for p in parts]
    return {key: da.concatenate([da.from_array(kw[key], chunks=kw[key].shape) for kw in per_part])
            for key in per_part[0]}


def _log_loss(label: np.ndarray, raw: np.ndarray) -> float:
    """LightGBM's ``binary_logloss`` of raw scores."""
    p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
    return float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))


def replay_early_stopping(booster: lgb.Booster, val: pd.DataFrame, objective: str, config: TrainConfig,
                          prior_strength: float) -> int:
    """The iteration ``lightgbm.early_stopping`` would have kept, on the full-grown ``booster``.

    Tree ``i``'s output is added one at a time (LightGBM predicts a tree range), so the
    curve costs one pass over the trees; it stops where the callback would, once
    ``early_stopping_rounds`` trees have not beaten the best.
    """
    val = sorted_by_query(val)
    x, label = val[list(FEATURE_NAMES)].to_numpy(np.float64), val[LABEL].to_numpy(np.float64)
    raw = prior_score(val, prior_strength)
    raw = np.zeros(len(val)) if raw is None else raw.copy()
    best_score, best = None, 0
    for i in range(booster.num_trees()):
        raw += booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1, num_threads=config.num_threads)
        if objective == "lambdarank":
            score = ndcg_at_k(val["_q"].to_numpy(), label, raw, 10)
            improved = best_score is None or score > best_score
        else:
            score = _log_loss(label, raw)
            improved = best_score is None or score < best_score
        if improved:
            best_score, best = score, i
        elif i - best >= config.early_stopping_rounds:
            break
    return best + 1


def fit_lightgbm_dask(split: Split, objective: str, config: TrainConfig, prior_strength: float = 0.0, *,
                      client: Any) -> lgb.Booster:
    """``train.fit_lightgbm`` on the cluster: same arguments and prior, early stopping replayed at home."""
    workers = max(1, len(client.scheduler_info()["workers"]))
    kwargs = _dask_fit_kwargs(_partitions(split.train, workers), objective, prior_strength)
    estimator = estimator_class(objective, dask=True)(client=client, **lightgbm_params(objective, config))
    with warnings.catch_warnings():  # lightgbm.dask warns on every fit: the estimator always holds n_jobs
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored", category=UserWarning)
        booster = estimator.fit(**kwargs, feature_name=list(FEATURE_NAMES)).to_local().booster_
    best = replay_early_stopping(booster, split.val, objective, config, prior_strength)
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    booster.best_iteration = best
    return booster


def train_ranker_dask(snapshots: pd.DataFrame, client: Any, config: TrainConfig = TrainConfig(),
                      progress: Callable[[str], None] | None = None) -> TrainResult:
    """``train_ranker`` with every candidate grown on the cluster."""
    result = train_ranker(snapshots, config, progress, fit=partial(fit_lightgbm_dask, client=client))
    result.ranker.info["distributed"] = True
    return result


__all__ = ["CUT", "build_snapshots_dask", "connect", "train_ranker_dask"]
