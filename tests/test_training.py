"""Training end to end on a small fixed network: ordering against baselines and oracle, MLflow, the gate."""

from __future__ import annotations

from dataclasses import replace

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from introrank.model.baselines import BASELINES
from introrank.model.constants import CHAMPION_ALIAS, MODEL_NAME
from introrank.model.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from introrank.service.settings import Settings
from introrank.service.store.model_registry import configure_tracking
from introrank.training.evaluate import LOGISTIC, MODEL, ORACLE, evaluate
from introrank.training.pipeline import run_training
from introrank.training.snapshots import build_snapshots
from introrank.training.train import (
    ReusedDatasets,
    TrainConfig,
    estimator_class,
    fit_kwargs,
    fit_lightgbm,
    lightgbm_params,
    sorted_by_query,
    split_by_time,
    train_ranker,
)


@pytest.fixture(scope="module")
def trained(tiny):
    snapshots = build_snapshots(tiny.events, tiny.owners, tiny.contacts)
    result = train_ranker(snapshots, TrainConfig())
    return snapshots, result, evaluate(result, tiny.oracle)


def test_oracle_beats_model_beats_every_baseline(trained):
    _, _, table = trained
    assert table.loc[ORACLE, "ndcg_at_10"] >= table.loc[MODEL, "ndcg_at_10"]
    for name in BASELINES:
        assert table.loc[MODEL, "ndcg_at_10"] > table.loc[name, "ndcg_at_10"], name
    assert 0 < table.loc[MODEL, "share_of_oracle_ndcg_at_10"] <= 1


def test_served_probabilities_are_calibrated_probabilities(trained):
    _, result, table = trained
    proba = result.ranker.predict_proba(result.split.test[list(FEATURE_NAMES)])
    assert ((proba >= 0) & (proba <= 1)).all()
    assert table.loc[MODEL, "ece"] < 0.05
    assert table.loc[MODEL, "brier"] < table.loc[MODEL, "ece"] + 0.2


def test_time_split_keeps_training_labels_out_of_the_held_out_period(trained):
    snapshots, result, _ = trained
    split = split_by_time(snapshots, TrainConfig())
    horizon = 90 * 86400
    assert split.train["cut"].max() + horizon <= split.val["cut"].min() < split.test["cut"].min()
    assert result.ranker.objective in ("lambdarank", "binary")


def test_logistic_regression_is_reported(trained):
    _, _, table = trained
    assert LOGISTIC in table.index and 0 <= table.loc[LOGISTIC, "ndcg_at_10"] <= 1


@pytest.mark.slow
def test_mlflow_run_registry_and_champion_gate(tiny, tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = run_training(tiny, settings)
    assert first.decision.promoted and first.decision.champion_version is None
    second = run_training(tiny, settings)  # identical data and seed: equal, so not strictly better
    assert not second.decision.promoted
    assert second.decision.champion_ndcg == pytest.approx(second.decision.new_ndcg)
    client = configure_tracking(settings)
    assert f"default:{client.get_model_version_by_alias(MODEL_NAME + '-default', CHAMPION_ALIAS).version}" == \
        first.decision.version
    run = client.get_run(second.run_id)
    assert run.data.params["feature_schema_version"] == FEATURE_SCHEMA_VERSION
    assert {"model.ndcg_at_10", "oracle.ndcg_at_10", "warmest.ndcg_at_10", "champion_gate.promoted"} <= set(
        run.data.metrics)
    artifacts = {a.path for a in MlflowClient().list_artifacts(second.run_id, "plots")}
    assert {"plots/ndcg_at_k.png", "plots/reliability.png", "plots/feature_importance.png"} <= artifacts
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}-default@{CHAMPION_ALIAS}")
    assert model.metadata.get_input_schema() is not None
    rows = first.result.split.test[list(FEATURE_NAMES)].head(20)
    out = model.predict(rows)
    np.testing.assert_allclose(out["probability"].to_numpy(), first.result.ranker.predict_proba(rows))


@pytest.mark.slow
def test_cli_simulate_then_evaluate_json(tmp_path, settings):
    import json

    from typer.testing import CliRunner

    from introrank.cli import app

    runner = CliRunner()
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--owners", "4", "--seed", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"owners.csv", "contacts.csv", "events.csv", "oracle.csv"}
    result = runner.invoke(app, ["evaluate", "--data", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    assert payload["metrics"]["model"]["ndcg_at_10"] > payload["metrics"]["most_recent"]["ndcg_at_10"]
    bad = runner.invoke(app, ["evaluate", "--data", str(out), "--positive", "lunch"])
    assert bad.exit_code == 2 and "unknown event type 'lunch'" in bad.output


@pytest.mark.slow
def test_champion_of_an_older_feature_schema_is_replaced(tiny, tmp_path, trained):
    """After an upgrade that changes the features, the old champion cannot be compared or served."""
    from dataclasses import replace as dc_replace

    from introrank.service.store.model_registry import load_champion
    from introrank.training.registry import log_ranker, register_and_gate

    _, result, _ = trained
    settings = Settings(data_dir=tmp_path)
    client = configure_tracking(settings)
    old = dc_replace(result.ranker, schema_version="0")
    from introrank.training.gate import judge

    with mlflow.start_run():
        register_and_gate(client, log_ranker(old), "default", judge([0.99], None, 1), None, ["default"])
    with pytest.raises(Exception, match="feature schema"):
        load_champion(client, "default")
    outcome = run_training(tiny, settings)
    assert outcome.decision.promoted and outcome.decision.champion_version is None
    assert load_champion(client, "default").ranker.schema_version == FEATURE_SCHEMA_VERSION


def test_recency_prior_is_part_of_the_score_and_of_its_explanation(trained):
    """Prior + trees: raw score, calibrated probability and contributions all include the prior."""
    import pickle

    from introrank.model.baselines import recency_prior
    from introrank.model.ranker import IntroRanker

    _, result, _ = trained
    rows = result.split.test[list(FEATURE_NAMES)].head(50)
    bare = IntroRanker(booster=result.ranker.booster, calibrator=result.ranker.calibrator,
                       objective=result.ranker.objective, prior_strength=0.0)
    primed = IntroRanker(booster=result.ranker.booster, calibrator=result.ranker.calibrator,
                         objective=result.ranker.objective, prior_strength=3.0)
    prior = recency_prior(rows["days_since_last_event"].to_numpy())
    assert np.isfinite(prior).all() and len(np.unique(prior)) > 1
    np.testing.assert_allclose(primed.raw_score(rows), bare.raw_score(rows) + 3.0 * prior)
    np.testing.assert_allclose(primed.contributions(rows).sum(axis=1), primed.raw_score(rows))
    recency = list(FEATURE_NAMES).index("days_since_last_event")
    np.testing.assert_allclose(primed.contributions(rows)[:, recency] - bare.contributions(rows)[:, recency],
                               3.0 * prior)
    # A ranker pickled before the prior existed has no such attribute: it loads as "no prior".
    del bare.__dict__["prior_strength"]
    assert pickle.loads(pickle.dumps(bare)).prior_strength == 0.0


def test_training_keeps_the_prior_strength_that_validates_best(trained):
    _, result, _ = trained
    grid = result.ranker.info["validation_grid"]
    strengths = TrainConfig().prior_strengths
    assert strengths[0] == 0.0
    for objective in ("lambdarank", "binary"):  # each climbs its strengths and stops at the first that does not help
        scores = [v for k, v in grid.items() if k.startswith(objective + "@") and "@leaves=" not in k]
        assert 1 <= len(scores) <= len(strengths)
        assert [k for k in grid if k.startswith(objective + "@") and "@leaves=" not in k] == [f"{objective}@prior={s:g}"
                                                                      for s in strengths[:len(scores)]]
        # a miss: a strength that does not beat the best before it; the climb stops at 2 misses in a row
        misses = [i > 0 and v <= max(scores[:i]) for i, v in enumerate(scores)]
        if TrainConfig().prior_grid_patience == 2:
            assert not any(a and b for a, b in zip(misses[:-2], misses[1:-1], strict=True))
            assert len(scores) == len(strengths) or misses[-2:] == [True, True]
        else:  # the default tries every strength (the climb is tested on its own below)
            assert len(scores) == len(strengths)
    chosen = f"{result.ranker.objective}@prior={result.ranker.prior_strength:g}"
    if result.ranker.info["num_leaves"] != TrainConfig().num_leaves:  # the winner regrown smaller validated better
        chosen += f"@leaves={result.ranker.info['num_leaves']}"
    assert grid[chosen] == max(grid.values())
    assert result.validation_ndcg[result.ranker.objective] == grid[chosen]
    # the size refit is the grid's winner at each smaller size, and it stays only where it validates better
    refits = [k for k in grid if "@leaves=" in k]
    assert len(refits) == len(TrainConfig().refit_leaves)


def test_the_prior_wins_where_recency_is_the_signal_and_data_is_thin():
    """Labels that only recency explains, too few rows for trees to learn its fine order."""
    import pandas as pd

    rng = np.random.default_rng(5)
    frames = []
    for cut in range(6):
        n = 8 * 30
        frame = pd.DataFrame(rng.random((n, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
        frame["days_since_last_event"] = rng.exponential(30, n)
        chance = 1 / (1 + frame["days_since_last_event"] / 3)
        frame["label"] = (rng.random(n) < chance).astype(int)
        frame["owner_id"] = [f"o{i // 30}" for i in range(n)]
        frame["contact_id"] = [f"c{i}" for i in range(n)]
        frame["cut"] = float(cut * 100 * 86400)
        frames.append(frame)
    lines: list[str] = []
    snapshots = pd.concat(frames, ignore_index=True)
    # 31-leaf trees overfit these 240-row cuts and lose recency's fine order (7 leaves keep it).
    config = TrainConfig(horizon_days=90, num_threads=1, num_leaves=31, n_estimators=300, refit_leaves=(),
                         prior_grid_patience=2)
    full = train_ranker(snapshots, replace(config, prior_grid_patience=0), progress=lines.append)
    assert full.ranker.prior_strength > 0, full.ranker.info["validation_grid"]
    assert len(lines) == len(full.ranker.info["validation_grid"]) and lines[-1].startswith("binary@prior=8 (10/10)")
    # The pruned climb stops early on these rising-then-falling curves and keeps the full grid's pick.
    pruned = train_ranker(snapshots, config)
    assert len(pruned.ranker.info["validation_grid"]) < len(full.ranker.info["validation_grid"])
    picked = [(r.ranker.objective, r.ranker.prior_strength) for r in (pruned, full)]
    assert picked[0] == picked[1]


def test_reused_datasets_grow_the_boosters_a_fit_from_scratch_grows(trained):
    """The grid bins each objective's sets once; every prior strength, in any order, gives the scratch model."""
    split = trained[1].split
    config = TrainConfig(num_threads=1)
    reuse = ReusedDatasets()
    for objective in ("lambdarank", "binary"):
        for strength in (2.0, 0.0, 4.0):
            reused = reuse(split, objective, config, strength)
            scratch = fit_lightgbm(split, objective, config, strength)
            assert reused.best_iteration == scratch.best_iteration
            assert reused.model_to_string() == scratch.model_to_string()


def test_fit_lightgbm_grows_the_estimator_s_model(trained):
    """``lgb.train`` with ``booster_params`` is the sklearn estimator's model (the Dask path grows that one)."""
    split = trained[1].split
    config = TrainConfig(num_threads=1, n_estimators=40)
    for objective, strength in (("lambdarank", 0.0), ("binary", 2.0)):
        mine = fit_lightgbm(split, objective, config, strength)
        theirs = estimator_class(objective)(**lightgbm_params(objective, config), num_threads=1).fit(
            **fit_kwargs(sorted_by_query(split.train), objective, strength)).booster_
        rows = split.test[list(FEATURE_NAMES)].to_numpy(np.float64)
        np.testing.assert_allclose(mine.predict(rows, raw_score=True),  # kept to its best iteration
                                   theirs.predict(rows, raw_score=True, num_iteration=mine.best_iteration))
