"""`introrank demo`: the whole product on a simulated network, end to end.

simulate -> import into the store -> train, evaluate, register (champion gate)
-> create a demo API key -> print a ready-to-paste curl -> serve. Re-running it
is safe: the simulation is deterministic, the import idempotent, and an
identical retrain is not promoted over the champion.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console

from introrank.model.constants import CONTACTS_CSV, EVENTS_CSV, ORACLE_CSV, OWNERS_CSV
from introrank.service.settings import Settings, get_settings
from introrank.service.store.csv_import import import_csvs
from introrank.service.store.engine import get_engine
from introrank.service.store.frames import load_dataset
from introrank.service.store.keys import create_api_key
from introrank.service.store.secret_box import KEY_SETTING, generate_key
from introrank.training.datasets import load_oracle
from introrank.training.pipeline import TrainingOutcome, print_outcome, run_training
from introrank.training.simulate import simulate_network, write_network

DEMO_TENANT = "demo"
DEMO_KEY_FILE = "webhook-secret.key"


def with_demo_secret_key(settings: Settings) -> Settings:
    """The demo's settings with a webhook secret key: the configured one, else one kept in the data folder.

    Webhook secrets are stored encrypted and nothing works without a key; a real
    installation sets ``INTRORANK_WEBHOOK_SECRET_KEY`` itself (kept apart from the
    database). The demo generates one into ``data/webhook-secret.key`` (mode 0600) once,
    and exports it so the server processes it starts see it too.
    """
    if settings.webhook_secret_key is not None:
        return settings
    path = settings.data_dir / DEMO_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(generate_key() + "\n", encoding="utf-8")
    key = path.read_text(encoding="utf-8").strip()
    os.environ[KEY_SETTING] = key
    get_settings.cache_clear()
    return get_settings()


def demo_start(today: date | None = None, months: int = 12) -> str:
    """The simulated history ends today, so the served lists are about now, not a year ago."""
    today = today or datetime.now(UTC).date()
    return (today - timedelta(days=30 * months)).isoformat()


def simulate_and_import(settings: Settings, owners: int, seed: int, console: Console) -> Path:
    folder = settings.data_dir / "demo"
    start = demo_start()
    with console.status(f"simulating {owners} owners (seed {seed}, from {start})"):
        write_network(simulate_network(n_owners=owners, seed=seed, months=12, start=start), folder)
    with console.status("importing the CSVs into the store"):
        report = import_csvs(get_engine(settings), tenant=DEMO_TENANT, owners=folder / OWNERS_CSV,
                             contacts=folder / CONTACTS_CSV, events=folder / EVENTS_CSV)
    console.print(report.summary())
    return folder


def train_demo(settings: Settings, folder: Path, console: Console) -> TrainingOutcome:
    dataset = replace(load_dataset(get_engine(settings), DEMO_TENANT), oracle=load_oracle(folder / ORACLE_CSV))
    console.print(f"training on {dataset.describe()}")
    outcome = run_training(dataset, settings, console=console, tenant=DEMO_TENANT, trained_on=[DEMO_TENANT])
    print_outcome(outcome, console)
    return outcome


def demo_owner(outcome: TrainingOutcome) -> str:
    """The owner with the most candidates at the latest cut: the fullest list to show."""
    test = outcome.result.split.test
    return str(test["owner_id"].value_counts().idxmax())


def curl_command(host: str, port: int, key: str, owner_id: str) -> str:
    return (f"curl -s -H 'Authorization: Bearer {key}' "
            f"'http://{host}:{port}/v1/owners/{owner_id}/recommendations?k=5'")


def run_demo(settings: Settings, owners: int, seed: int, host: str, port: int, console: Console) -> str:
    """Everything but serving; returns the curl command that serving will answer."""
    folder = simulate_and_import(settings, owners, seed, console)
    outcome = train_demo(settings, folder, console)
    key = create_api_key(get_engine(settings), DEMO_TENANT)
    return curl_command(host, port, key, demo_owner(outcome))
