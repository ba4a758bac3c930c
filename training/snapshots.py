"""Point-in-time snapshots: one row per (owner, contact, cut) with features and label.

Features see only events strictly before the cut (``introrank.model.features``); the label
looks only at (cut, cut + horizon]. Candidates are the contacts with at least one
event before the cut, as the service would see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from introrank.model.constants import (
    CONTACT_ID,
    DEFAULT_CUT_EVERY_DAYS,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_POSITIVE,
    DIRECTION_CODES,
    EVENT_TYPE_CODES,
    OWNER_ID,
)
from introrank.model.events import SECONDS_PER_DAY, EventArrays, frame_to_event_arrays
from introrank.model.features import assemble, features_at_cut, static_features
from introrank.training.cuts import cut_times

CUT = "cut"
LABEL = "label"
Positive = tuple[tuple[str, str | None], ...]


def parse_positive(text: str) -> Positive:
    """``"intro,referral"`` or ``"message:in"`` to ((type, direction or None), ...)."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kind, _, direction = item.partition(":")
        if kind not in EVENT_TYPE_CODES:
            raise ValueError(f"--positive: unknown event type {kind!r} in {text!r}; "
                             f"allowed: {', '.join(EVENT_TYPE_CODES)}")
        if direction and direction not in DIRECTION_CODES:
            raise ValueError(f"--positive: unknown direction {direction!r} in {text!r}; use in or out")
        out.append((kind, direction or None))
    if not out:
        raise ValueError("--positive: give at least one event type, e.g. intro,referral")
    return tuple(out)


def format_positive(positive: Positive) -> str:
    return ",".join(k if d is None else f"{k}:{d}" for k, d in positive)


def positive_mask(events: EventArrays, positive: Positive) -> np.ndarray:
    """Events that count as a success; those marked ``useful=false`` never do."""
    mask = np.zeros(len(events), dtype=bool)
    for kind, direction in positive:
        hit = events.type_code == EVENT_TYPE_CODES[kind]
        if direction is not None:
            hit &= events.dir_code == DIRECTION_CODES[direction]
        mask |= hit
    return mask & (events.useful != 0)


@dataclass(frozen=True)
class SnapshotConfig:
    cut_every_days: int = DEFAULT_CUT_EVERY_DAYS
    horizon_days: int = DEFAULT_HORIZON_DAYS
    positive: Positive = DEFAULT_POSITIVE


def pair_table(contacts: pd.DataFrame) -> pd.DataFrame:
    """(owner_id, contact_id) -> dense pair index used by the feature arrays."""
    pairs = contacts[[OWNER_ID, CONTACT_ID]].astype(str).drop_duplicates().reset_index(drop=True)
    pairs["pair"] = np.arange(len(pairs), dtype=np.int64)
    return pairs


@dataclass(frozen=True)
class SnapshotInputs:
    """Everything a cut's snapshot needs, built once and shared by every cut (and Dask worker)."""

    pairs: pd.DataFrame
    arrays: EventArrays
    success: EventArrays
    static: pd.DataFrame
    cuts: list[float]


def prepare_snapshot_inputs(events: pd.DataFrame, owners: pd.DataFrame, contacts: pd.DataFrame,
                            config: SnapshotConfig = SnapshotConfig(),
                            cuts: Iterable[float] | None = None) -> SnapshotInputs:
    pairs = pair_table(contacts)
    arrays = frame_to_event_arrays(events.astype({OWNER_ID: str, CONTACT_ID: str}), pairs)
    if not len(arrays):
        raise ValueError("no events: nothing to learn from")
    if cuts is None:
        cuts = cut_times(arrays.ts.min(), arrays.ts.max(), config.cut_every_days, config.horizon_days)
    cuts = [float(c) for c in cuts]
    if not cuts:
        raise ValueError(
            f"history too short for one cut: need {config.horizon_days}-day horizon plus "
            f"{config.cut_every_days} days of history; try smaller --horizon-days/--cut-every-days"
        )
    static = static_features(pairs, owners, contacts)
    success = arrays.take(positive_mask(arrays, config.positive))
    return SnapshotInputs(pairs, arrays, success, static, cuts)


def build_snapshots(
    events: pd.DataFrame,
    owners: pd.DataFrame,
    contacts: pd.DataFrame,
    config: SnapshotConfig = SnapshotConfig(),
    cuts: Iterable[float] | None = None,
) -> pd.DataFrame:
    """Rows (owner_id, contact_id, cut, *FEATURE_NAMES, label) for every cut and candidate."""
    inputs = prepare_snapshot_inputs(events, owners, contacts, config, cuts)
    frames = [snapshot_at(inputs.arrays, inputs.success, inputs.pairs, inputs.static, cut, config.horizon_days)
              for cut in inputs.cuts]
    return pd.concat(frames, ignore_index=True)


def snapshot_at(arrays: EventArrays, success: EventArrays, pairs: pd.DataFrame,
                static: pd.DataFrame, cut: float, horizon_days: int) -> pd.DataFrame:
    """One cut: features from events strictly before it, label from (cut, cut + horizon]."""
    n = len(pairs)
    dynamic = features_at_cut(arrays, n, cut)
    candidates = np.flatnonzero(~np.isnan(dynamic["days_since_last_event"]))
    frame = assemble({k: v[candidates] for k, v in dynamic.items()}, static.iloc[candidates],
                     groups=pairs[OWNER_ID].to_numpy()[candidates])
    in_horizon = (success.ts > cut) & (success.ts <= cut + horizon_days * SECONDS_PER_DAY)
    labelled = np.zeros(n, dtype=np.int8)
    labelled[success.pair[in_horizon]] = 1
    frame.insert(0, LABEL, labelled[candidates])
    frame.insert(0, CUT, cut)
    frame.insert(0, CONTACT_ID, pairs[CONTACT_ID].to_numpy()[candidates])
    frame.insert(0, OWNER_ID, pairs[OWNER_ID].to_numpy()[candidates])
    return frame.reset_index(drop=True)
