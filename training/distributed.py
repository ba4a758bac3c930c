"""Scaling training out on Dask: the same snapshot code and a ``lightgbm.dask`` ranker.

With ``--dask-scheduler ADDRESS`` (or a ``distributed.Client`` in tests), each
cut's snapshot is a task running ``introrank.training.snapshots.snapshot_at`` on a worker
(the very function the local path runs, so no skew), and the lambdarank booster
trains with ``lightgbm.dask.DaskLGBMRanker`` on partitions that never split a
query (one owner's list at one cut). The booster then comes home and is
calibrated and wrapped exactly as a local one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from introrank.model.constants import OWNER_ID
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.training.snapshots import CUT, LABEL, SnapshotConfig, prepare_snapshot_inputs, snapshot_at
from introrank.training.train import (
    Split,
    TrainConfig,
    TrainResult,
    fit_calibrator,
    fit_logistic,
    query_ids,
    split_by_time,
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
    parts = []
    for chunk in np.array_split(owners, max(1, min(n_parts, len(owners)))):
        part = frame[frame[OWNER_ID].isin(chunk)]
        parts.append(part.assign(_q=query_ids(part)).sort_values("_q", kind="mergesort"))
    return [p for p in parts if len(p)]


def _dask_arrays(parts: list[pd.DataFrame]) -> tuple[Any, Any, Any]:
    import dask.array as da

    features = list(FEATURE_NAMES)
    x = da.concatenate([da.from_array(p[features].to_numpy(np.float64), chunks=-1) for p in parts])
    y = da.concatenate([da.from_array(p[LABEL].to_numpy(np.float64), chunks=-1) for p in parts])
    sizes = [p.groupby("_q", sort=True).size().to_numpy() for p in parts]
    group = da.concatenate([da.from_array(s, chunks=-1) for s in sizes])
    return x, y, group


def fit_lightgbm_dask(split: Split, client: Any, config: TrainConfig) -> Any:
    from lightgbm.dask import DaskLGBMRanker

    workers = max(1, len(client.scheduler_info()["workers"]))
    x, y, group = _dask_arrays(_partitions(split.train, workers))
    model = DaskLGBMRanker(client=client, objective="lambdarank", n_estimators=config.n_estimators,
                           learning_rate=config.learning_rate, num_leaves=config.num_leaves,
                           min_child_samples=config.min_child_samples, random_state=config.seed,
                           lambdarank_truncation_level=20, verbose=-1)
    return model.fit(x, y, group=group).to_local().booster_


def train_ranker_dask(snapshots: pd.DataFrame, client: Any, config: TrainConfig = TrainConfig()) -> TrainResult:
    """Distributed lambdarank; validation picks the number of trees, as early stopping does locally."""
    from introrank.training.metrics import ndcg_at_k

    split = split_by_time(snapshots, config)
    booster = fit_lightgbm_dask(split, client, config)
    x_val = split.val[list(FEATURE_NAMES)].to_numpy(np.float64)
    val_q, val_y = query_ids(split.val), split.val[LABEL].to_numpy()
    steps = sorted({max(1, booster.num_trees() * f // 10) for f in range(2, 11)})
    scores = {n: ndcg_at_k(val_q, val_y, booster.predict(x_val, raw_score=True, num_iteration=n)) for n in steps}
    best = max(scores, key=lambda n: scores[n])
    booster = booster.__class__(model_str=booster.model_to_string(num_iteration=best))
    raw_val = booster.predict(x_val, raw_score=True)
    ranker = IntroRanker(booster=booster, calibrator=fit_calibrator(raw_val, val_y), objective="lambdarank",
                         info={"best_iteration": best, "distributed": True})
    return TrainResult(ranker, fit_logistic(split, config), split, {"lambdarank": scores[best]})


__all__ = ["CUT", "build_snapshots_dask", "connect", "train_ranker_dask"]
