"""Each tenant gets its own model: registry names, the served model per tenant, the gate, safe artifacts.

Real MLflow stores in temp folders, real LightGBM models trained on the tiny
simulated network, the real app over HTTP.
"""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from servicekit import load_through_api

from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.service.serving.model_holder import ModelHolder
from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key
from introrank.service.store.model_registry import (
    configure_tracking,
    load_champion,
    registered_name,
    version_label,
)
from introrank.training.gate import judge, paired_bootstrap

# --- the gate, on hand-checkable arrays -------------------------------------------------

def test_gate_never_promotes_on_undefined_or_thin_evidence():
    assert not judge(np.array([]), None, min_queries=1).promote  # no query with a positive
    thin = judge(np.full(29, 0.9), None, min_queries=30)
    assert not thin.promote and "29 queries" in thin.reason and "30" in thin.reason
    undefined_champion = judge(np.full(40, 0.9), np.full(40, np.nan), min_queries=30)
    assert not undefined_champion.promote and "undefined" in undefined_champion.reason
    assert undefined_champion.to_dict()["champion_ndcg"] is None  # JSON-safe


def test_gate_promotes_only_a_strictly_better_candidate_and_reports_the_interval():
    rng = np.random.default_rng(3)
    old = rng.uniform(0.3, 0.7, 60)
    better = judge(old + 0.05, old, min_queries=30)
    assert better.promote and better.difference_low == pytest.approx(0.05) == better.difference_high
    same = judge(old, old, min_queries=30)
    assert not same.promote
    first = judge(old, None, min_queries=30)
    assert first.promote and first.champion_ndcg is None
    low, high = paired_bootstrap(old + rng.normal(0.02, 0.05, 60), old)
    assert low < 0.02 < high


# --- registry names and artifacts -------------------------------------------------------

def test_registry_names_and_labels():
    assert registered_name("acme") == "introrank-acme" and registered_name(None) == "introrank-base"
    assert version_label("acme", "3") == "acme:3" and version_label(None, "2") == "base:2"


def test_base_champion_round_trips_as_data(model_store, tiny):
    champion = load_champion(configure_tracking(model_store), None)
    assert champion is not None and champion.label.startswith("base:")
    again = IntroRanker.from_artifacts(*champion.ranker.to_artifacts())
    x = np.random.default_rng(0).uniform(0, 50, size=(200, len(FEATURE_NAMES)))
    np.testing.assert_array_equal(again.raw_score(x), champion.ranker.raw_score(x))
    np.testing.assert_array_equal(again.predict_proba(x), champion.ranker.predict_proba(x))
    np.testing.assert_array_equal(again.contributions(x), champion.ranker.contributions(x))


def test_input_example_is_synthetic(model_store, tiny):
    """The MLflow input example holds the made-up rows, not a feature row of a real tie."""
    import json

    import mlflow

    from introrank.training.registry import synthetic_example

    client = configure_tracking(model_store)
    version = client.get_model_version_by_alias(registered_name(None), "champion")
    root = client.get_model_version_download_uri(registered_name(None), version.version)
    path = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/input_example.json"))
    example = json.loads(path.read_text())
    assert example["data"] == synthetic_example().to_numpy().tolist()


# --- per-tenant serving, training through the worker, tampered pickles ------------------

@pytest.fixture(scope="module")
def alpha_store(tmp_path_factory, tiny) -> Settings:
    """A store where tenant ``alpha`` has a model of its own and there is no base model."""
    from introrank.training.pipeline import run_training

    settings = Settings(data_dir=tmp_path_factory.mktemp("alpha"), model_poll_seconds=0)
    outcome = run_training(tiny, settings, tenant="alpha")
    assert outcome.decision.promoted and outcome.decision.version == "alpha:1"
    return settings


def _ranking(client, owner_id: str, as_of: str | None = None) -> tuple[str, list[tuple[str, float]]]:
    """The served model and list; with ``as_of`` (a backtest: fixed time, no later impressions) it is repeatable."""
    params = {"k": 10} | ({"as_of": as_of} if as_of else {})
    body = client.get(f"/v1/owners/{owner_id}/recommendations", params=params).json()
    return body["model_version"], [(r["contact_id"], r["probability"]) for r in body["recommendations"]]


@pytest.mark.slow
def test_a_retrain_of_one_tenant_leaves_the_other_untouched(alpha_store, sqlite_engine, tiny, live_app):
    from introrank.worker import run_worker

    live = live_app(alpha_store.model_copy(update={"score_cache_seconds": 0}), sqlite_engine)
    alpha = live.client(create_api_key(sqlite_engine, "alpha", admin=True))
    beta = live.client(create_api_key(sqlite_engine, "beta", admin=True))
    load_through_api(alpha, tiny)
    load_through_api(beta, tiny)
    owner = str(tiny.owners["owner_id"].iloc[0])
    at = pd.Timestamp(tiny.events["occurred_at"].max(), unit="s", tz="UTC").isoformat()
    before = _ranking(alpha, owner, at)
    assert before[0] == "alpha:1"
    assert _ranking(beta, owner)[0] == "heuristic"  # no model of its own and no base model
    assert beta.get("/v1/model").json()["heuristic"] is True

    job = beta.post("/v1/admin/retrain")
    assert job.status_code == 202 and job.json()["state"] == "queued"
    job_id = job.json()["job_id"]
    assert alpha.get(f"/v1/admin/jobs/{job_id}").status_code == 404  # another tenant's job
    assert run_worker(sqlite_engine, alpha_store, once=True) == 1
    done = beta.get(f"/v1/admin/jobs/{job_id}").json()
    assert done["state"] == "succeeded", done
    assert done["result"]["decision"]["version"] == "beta:1" and done["result"]["decision"]["promoted"]

    holder: ModelHolder = live.app.state.model_holder
    assert holder.poll_once() >= 1  # what every replica's poller does within INTRORANK_MODEL_POLL_SECONDS
    assert _ranking(beta, owner)[0] == "beta:1"
    assert _ranking(alpha, owner, at) == before  # alpha's model and ranking did not move
    client = configure_tracking(alpha_store)
    assert str(client.get_model_version_by_alias("introrank-alpha", "champion").version) == "1"
    tags = client.get_model_version("introrank-beta", "1").tags
    assert tags["tenant"] == "beta" and tags["trained_on"] == "beta"

    score = beta.post("/v1/score", json={"owner": {"owner_id": "u1", "goal": "job_search"},
                                         "contacts": [{"contact_id": "c1"}], "events": []})
    assert score.json()["model_version"] == "beta:1"  # the stateless path uses the caller's model too


@pytest.mark.slow
def test_too_few_positive_queries_never_promote(tmp_path, tiny):
    from introrank.training.pipeline import run_training

    settings = Settings(data_dir=tmp_path, gate_min_queries=10_000)
    outcome = run_training(tiny, settings, tenant="thin")
    assert not outcome.decision.promoted and "fewer than the 10000" in outcome.decision.reason
    client = configure_tracking(settings)
    run = client.get_run(outcome.run_id)
    assert "not promoted" in run.data.tags["champion_gate"] and run.data.metrics["champion_gate.promoted"] == 0
    assert load_champion(client, "thin") is None  # registered, but the alias never moved
    assert outcome.to_dict()["decision"]["promoted"] is False


class _Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.write_text, (self.marker, "pwned"))


def test_a_tampered_pickle_in_the_registry_is_never_executed(alpha_store, tmp_path):
    import mlflow

    client = configure_tracking(alpha_store)
    version = client.get_model_version_by_alias("introrank-alpha", "champion")
    root = client.get_model_version_download_uri("introrank-alpha", version.version)
    model_dir = Path(root.removeprefix("file://"))
    assert (model_dir / "python_model.pkl").exists(), "the local artifact store holds the pyfunc's pickle"
    marker = tmp_path / "marker"
    original = (model_dir / "python_model.pkl").read_bytes()
    (model_dir / "python_model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    try:
        served = ModelHolder(alpha_store).for_tenant("alpha")
        assert served.version == "alpha:1" and not marker.exists()
        with pytest.raises(Exception):  # noqa: B017 - what the tamper does to a pickle loader
            mlflow.pyfunc.load_model(f"models:/introrank-alpha/{version.version}")
        assert marker.exists(), "the tampered pickle is live: a pickle loader runs it"
    finally:
        (model_dir / "python_model.pkl").write_bytes(original)


def test_a_failed_load_keeps_what_was_serving(alpha_store, monkeypatch):
    holder = ModelHolder(alpha_store)
    assert holder.for_tenant("alpha").version == "alpha:1"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once, not after minutes of backoff
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setattr(type(alpha_store), "resolved_tracking_uri", property(lambda self: "http://127.0.0.1:9"))
    holder._own["alpha"] = holder._own["alpha"].__class__(**{**holder._own["alpha"].__dict__,
                                                             "registry_version": "0"})  # the alias "moved"
    holder.poll_once()
    assert holder.for_tenant("alpha").version == "alpha:1"


def test_tenant_models_load_once_under_concurrent_first_requests(alpha_store):
    holder = ModelHolder(alpha_store)
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(holder.for_tenant("alpha").version)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["alpha:1"] * 4
    assert holder.for_tenant("nobody").is_heuristic  # no model, no base
