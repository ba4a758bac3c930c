"""Retraining on what the store knows now: events, and the feedback folded into them.

Feedback already lives in the events (``useful`` flags and feedback-created intro
events, see ``introrank.service.store.writes.add_feedback``), so retraining is training on the
tenant's current data; the champion gate compares old and new on the newest
held-out cuts, which the new data defines.
"""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import Engine

from introrank.service.settings import Settings
from introrank.service.store.frames import load_dataset
from introrank.training.pipeline import TrainingOutcome, run_training
from introrank.training.snapshots import SnapshotConfig


def retrain(engine: Engine, settings: Settings, tenant: str, config: SnapshotConfig = SnapshotConfig(),
            console: Console | None = None) -> TrainingOutcome:
    return run_training(load_dataset(engine, tenant), settings, config, console=console, tenant=tenant,
                        trained_on=[tenant])
