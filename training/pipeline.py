"""The training job end to end: snapshots -> fit -> evaluate -> MLflow -> champion gate.

Each stage lives in its own module; this one only sequences them, reports
progress and records the results.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from rich.console import Console

from introrank.model.constants import BASE_MODEL, DEFAULT_TENANT
from introrank.model.dataset import Dataset
from introrank.model.features import FEATURE_SCHEMA_VERSION
from introrank.model.json_safe import json_safe
from introrank.model.ranker import ModelSchemaError
from introrank.service.settings import Settings
from introrank.service.store.model_registry import Champion, configure_tracking, load_champion
from introrank.training.evaluate import evaluate, format_table, ndcg_per_test_query, save_plots
from introrank.training.gate import judge
from introrank.training.registry import GateDecision, log_ranker, register_and_gate
from introrank.training.snapshots import SnapshotConfig, build_snapshots, format_positive
from introrank.training.train import TrainConfig, TrainResult, train_ranker


@dataclass
class TrainingOutcome:
    result: TrainResult
    table: pd.DataFrame
    decision: GateDecision | None
    run_id: str | None
    seconds: float

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN metrics become null): the CLI's --json and a retrain job's result."""
        payload = {
            "metrics": json.loads(self.table.to_json(orient="index")),
            "objective": self.result.ranker.objective,
            "prior_strength": self.result.ranker.prior_strength,
            "validation_ndcg_at_10": self.result.validation_ndcg,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 2),
            "split": self.result.split.describe(),
        }
        if self.decision is not None:
            payload["decision"] = self.decision.to_dict()
        return json_safe(json.loads(json.dumps(payload, default=float)))




def run_training(dataset: Dataset, settings: Settings, snapshot_config: SnapshotConfig = SnapshotConfig(),
                 train_config: TrainConfig | None = None, register: bool = True,
                 console: Console | None = None, dask_client: Any = None, *,
                 tenant: str | None = DEFAULT_TENANT, trained_on: list[str] | None = None) -> TrainingOutcome:
    """Train, evaluate and (optionally) register as ``tenant``'s model (None: the base model).

    ``trained_on`` names the tenants whose data ``dataset`` holds (tagged on the
    version); ``dask_client`` runs snapshots and the fit on Dask.
    """
    console = console or Console(stderr=True, quiet=True)
    train_config = train_config or TrainConfig(horizon_days=snapshot_config.horizon_days,
                                               num_threads=settings.resolved_train_threads)
    started = time.perf_counter()
    with console.status("building point-in-time snapshots"):
        if dask_client is not None:
            from introrank.training.distributed import build_snapshots_dask

            snapshots = build_snapshots_dask(dataset.events, dataset.owners, dataset.contacts, dask_client,
                                             snapshot_config)
        else:
            snapshots = build_snapshots(dataset.events, dataset.owners, dataset.contacts, snapshot_config)
    console.log(f"snapshots: {len(snapshots):,} rows, {snapshots['cut'].nunique()} cuts, "
                f"positive rate {snapshots['label'].mean():.3f}")
    with console.status("training LightGBM (lambdarank and binary, each at every recency-prior strength) "
                        "and logistic regression") as status:
        def progress(line: str) -> None:
            status.update(f"training LightGBM: {line}")

        if dask_client is not None:
            from introrank.training.distributed import train_ranker_dask

            result = train_ranker_dask(snapshots, dask_client, train_config, progress=progress)
        else:
            result = train_ranker(snapshots, train_config, progress=progress)
    console.log(f"chosen objective: {result.ranker.objective}, recency prior strength "
                f"{result.ranker.prior_strength:g} (validation NDCG@10 {result.validation_ndcg})")
    with console.status("evaluating on the test cuts"):
        table = evaluate(result, dataset.oracle)
    if not register:
        return TrainingOutcome(result, table, None, None, time.perf_counter() - started)
    with console.status("logging to MLflow and applying the champion gate"):
        run_id, decision = _record(result, table, dataset, snapshot_config, train_config, settings, tenant,
                                   trained_on if trained_on is not None else [tenant or BASE_MODEL])
    return TrainingOutcome(result, table, decision, run_id, time.perf_counter() - started)


def serving_champion(client: MlflowClient, tenant: str | None) -> Champion | None:
    """What serves ``tenant`` now: its own champion, else the base model (the gate compares against it).

    A champion of another feature schema cannot be scored on these features: it
    counts as none, so a model of the current schema replaces it.
    """
    for owner in ([tenant, None] if tenant is not None else [None]):
        try:
            champion = load_champion(client, owner)
        except ModelSchemaError:
            champion = None
        if champion is not None:
            return champion
    return None


def _record(result: TrainResult, table: pd.DataFrame, dataset: Dataset, snapshot_config: SnapshotConfig,
            train_config: TrainConfig, settings: Settings, tenant: str | None,
            trained_on: list[str]) -> tuple[str, GateDecision]:
    client = configure_tracking(settings)
    champion = serving_champion(client, tenant)
    test = result.split.test
    verdict = judge(ndcg_per_test_query(result.ranker, test),
                    ndcg_per_test_query(champion.ranker, test) if champion else None, settings.gate_min_queries)
    with mlflow.start_run() as run:
        mlflow.log_params({
            "objective": result.ranker.objective,
            "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "positive": format_positive(snapshot_config.positive),
            "horizon_days": snapshot_config.horizon_days,
            "cut_every_days": snapshot_config.cut_every_days,
            "best_iteration": result.ranker.info.get("best_iteration"),
            "prior_strength": result.ranker.prior_strength,
            **{f"train_{k}": v for k, v in train_config.__dict__.items()},
            **{f"data_{k}": v for k, v in dataset.describe().items()},
        })
        mlflow.set_tags({"feature_schema_version": FEATURE_SCHEMA_VERSION, "tenant": tenant or "",
                         "model_kind": "tenant" if tenant else BASE_MODEL, "trained_on": ",".join(trained_on)})
        for ranker_name, row in table.iterrows():
            mlflow.log_metrics({f"{ranker_name}.{m}": float(v) for m, v in row.items() if pd.notna(v)})
        with tempfile.TemporaryDirectory() as tmp:
            for path in save_plots(result, dataset.oracle, Path(tmp)):
                mlflow.log_artifact(str(path), artifact_path="plots")
            (Path(tmp) / "split.json").write_text(json.dumps(result.split.describe()))
            mlflow.log_artifact(str(Path(tmp) / "split.json"))
        model_uri = log_ranker(result.ranker)
        decision = register_and_gate(client, model_uri, tenant, verdict, champion.label if champion else None,
                                     trained_on)
        gate_metrics = {"promoted": float(decision.promoted), "positive_queries": float(verdict.positive_queries),
                        "champion_ndcg_at_10": verdict.champion_ndcg, "difference_low": verdict.difference_low,
                        "difference_high": verdict.difference_high}
        mlflow.log_metrics({f"champion_gate.{k}": v for k, v in gate_metrics.items()
                            if v is not None and not math.isnan(v)})
        mlflow.set_tag("champion_gate", decision.describe())
    return run.info.run_id, decision


def print_outcome(outcome: TrainingOutcome, console: Console) -> None:
    console.print(format_table(outcome.table))
    if outcome.decision is not None:
        console.print(outcome.decision.describe())
    console.print(f"training took {outcome.seconds:.1f}s")
