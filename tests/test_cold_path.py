"""The cold recommendation path's fast parts each equal the reference they replace.

* Pair states decoded as one column block equal the row-by-row decode they replace.
* ``candidate_features`` on states already in canonical order (no re-ordering) equals the
  general path on the same states shuffled.
* A backtest that takes unchanged pairs from the stored aggregates and replays the rest
  equals a replay of every stored event.
* The compiled forest (lleaves) gives LightGBM's raw scores bit for bit on every row.
* The contribution memo answers LightGBM's TreeSHAP exactly, also for rows it only saw the
  split decisions of (other values in the same intervals, at thresholds, NaN, zeros).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from introrank.model.aggregates import SCALAR_FIELDS, decode_recent
from introrank.model.compiled import ZERO_THRESHOLD, cache_key, compile_booster, probe_rows
from introrank.model.contribution_memo import ContributionMemo, split_thresholds
from introrank.model.events import EventArrays
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.service.serving.candidates import (
    build_profile,
    candidate_features,
    load_contacts,
    load_owner,
    replay_states,
    states_as_of,
)
from introrank.service.store.aggregates import PairStates, load_owner_states
from introrank.service.store.csv_import import import_csvs
from introrank.training.simulate import simulate_network, write_network
from introrank.training.snapshots import LABEL, SnapshotConfig, build_snapshots


@pytest.fixture(scope="module")
def network_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cold-network")
    write_network(simulate_network(n_owners=4, seed=5, months=12), folder)
    return folder


@pytest.fixture
def stored(sqlite_engine: Engine, network_dir: Path) -> tuple[Engine, int, list[str]]:
    import_csvs(sqlite_engine, "cold", owners=network_dir / "owners.csv", contacts=network_dir / "contacts.csv",
                events=network_dir / "events.csv")
    with sqlite_engine.connect() as conn:
        tenant_id = int(conn.execute(text("SELECT id FROM tenants WHERE name = 'cold'")).scalar_one())
        owners = [r[0] for r in conn.execute(text("SELECT owner_id FROM owners ORDER BY owner_id"))]
    return sqlite_engine, tenant_id, owners


def _reference_states(conn, tenant_id: int, owner_id: str) -> PairStates:  # noqa: ANN001
    """The decode the block decode replaced: rows as tuples, one np.array per field, None -> NaN."""
    columns = ["owner_id", "contact_id", "recent", *SCALAR_FIELDS]
    rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM pair_aggregates WHERE tenant_id = :t "
                             "AND owner_id = :o ORDER BY contact_id"), {"t": tenant_id, "o": owner_id}).all()
    by_column = dict(zip(columns, zip(*rows, strict=True), strict=True))
    scalars = {f: np.array(by_column[f], dtype=float) for f in SCALAR_FIELDS}
    for f in ("n_total", "n_in", "n_out", "n_give", "n_ask", "n_success", "warm_7", "warm_30", "warm_180"):
        scalars[f] = np.nan_to_num(scalars[f])
    pairs = pd.DataFrame({"owner_id": list(by_column["owner_id"]), "contact_id": list(by_column["contact_id"])},
                         dtype=object)
    return PairStates(pairs, scalars, decode_recent(list(by_column["recent"])))


def _assert_states_equal(a: PairStates, b: PairStates) -> None:
    assert a.pairs.astype(str).values.tolist() == b.pairs.astype(str).values.tolist()
    for field in SCALAR_FIELDS:
        np.testing.assert_array_equal(a.scalars[field], b.scalars[field], err_msg=field)
    for name in ("pair", "ts", "type_code", "dir_code", "useful"):
        np.testing.assert_array_equal(getattr(a.recent, name), getattr(b.recent, name), err_msg=name)


def test_block_decode_equals_the_row_decode(stored) -> None:  # noqa: ANN001
    engine, tenant_id, owners = stored
    with engine.connect() as conn:
        for owner_id in owners:
            states = load_owner_states(conn, tenant_id, owner_id)
            assert len(states.pairs) > 10
            _assert_states_equal(states, _reference_states(conn, tenant_id, owner_id))


def _owner_inputs(conn, tenant_id: int, owner_id: str):  # noqa: ANN001, ANN202
    """The owner's row, contacts, a fresh profile, stored states and a time an hour after their last event."""
    owner, contacts = load_owner(conn, tenant_id, owner_id), load_contacts(conn, tenant_id, owner_id)
    states = load_owner_states(conn, tenant_id, owner_id)
    return owner, contacts, build_profile(owner, contacts, None), states, float(
        np.nanmax(states.scalars["last_ts"])) + 3600.0


def test_features_in_canonical_order_equal_the_reordering_path(stored) -> None:  # noqa: ANN001
    engine, tenant_id, owners = stored
    rng = np.random.default_rng(0)
    with engine.connect() as conn:
        for owner_id in owners:
            owner, contacts, profile, states, at = _owner_inputs(conn, tenant_id, owner_id)
            fast, fast_rows, fast_idx = candidate_features(states, owner, None, at, None, profile)
            order = rng.permutation(len(states.pairs))  # state i of the shuffle = stored state order[i]
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
            recent = states.recent
            shuffled = PairStates(states.pairs.iloc[order].reset_index(drop=True),
                                  {k: v[order] for k, v in states.scalars.items()},
                                  EventArrays.build(inverse[recent.pair], recent.ts, recent.type_code,
                                                    recent.dir_code, recent.useful))
            slow, slow_rows, slow_idx = candidate_features(shuffled, owner, None, at, None, profile)
            assert fast_rows["contact_id"].tolist() == slow_rows["contact_id"].tolist()
            np.testing.assert_array_equal(fast.to_numpy(), slow.to_numpy())
            np.testing.assert_array_equal(order[slow_idx], fast_idx)


def test_remembered_candidate_order_equals_a_fresh_one(stored) -> None:  # noqa: ANN001
    """The order and rows a profile remembers for a states' pairs frame (kept while events only touch
    known pairs) give what a profile that remembers nothing gives: after a splice that keeps the frame,
    one that adds a pair, and a pair without history (not a candidate)."""
    engine, tenant_id, owners = stored
    with engine.connect() as conn:
        for owner_id in owners:
            owner, contacts, held, states, at = _owner_inputs(conn, tenant_id, owner_id)
            touched = PairStates(states.pairs, {k: v.copy() for k, v in states.scalars.items()}, states.recent)
            touched.scalars["last_ts"][1] = np.nan  # no history any more: drops out of the candidates
            dropped = PairStates(states.pairs.iloc[1:].reset_index(drop=True),
                                 {k: v[1:] for k, v in states.scalars.items()},
                                 states.recent.take(states.recent.pair >= 1))
            dropped = PairStates(dropped.pairs, dropped.scalars, EventArrays(
                dropped.recent.pair - 1, dropped.recent.ts, dropped.recent.type_code, dropped.recent.dir_code,
                dropped.recent.useful))
            for version in (states, states, touched, dropped, states):
                remembered = candidate_features(version, owner, None, at, None, held)
                fresh = candidate_features(version, owner, None, at, None, build_profile(owner, contacts, None))
                assert remembered[1]["contact_id"].tolist() == fresh[1]["contact_id"].tolist()
                np.testing.assert_array_equal(remembered[0].to_numpy(), fresh[0].to_numpy())
                np.testing.assert_array_equal(remembered[2], fresh[2])
            assert held.orders["order"][0] is states.pairs


def test_backtest_from_stored_and_replayed_pairs_equals_a_full_replay(stored) -> None:  # noqa: ANN001
    engine, tenant_id, owners = stored
    with engine.connect() as conn:
        for owner_id in owners:
            owner, contacts = load_owner(conn, tenant_id, owner_id), load_contacts(conn, tenant_id, owner_id)
            last = float(np.nanmax(load_owner_states(conn, tenant_id, owner_id).scalars["last_ts"]))
            for days_back in (-1, 5, 60, 200):
                at = last - days_back * 86400.0
                mixed = states_as_of(conn, tenant_id, owner_id, at)
                full = replay_states(conn, tenant_id, owner_id, at)
                got, got_rows, _ = candidate_features(mixed, owner, contacts, at, None)
                want, want_rows, _ = candidate_features(full, owner, contacts, at, None)
                assert got_rows["contact_id"].tolist() == want_rows["contact_id"].tolist()
                assert len(want_rows) > 0
                np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-9)


def _booster(network_dir: Path) -> tuple[lgb.Booster, np.ndarray]:
    from introrank.training.datasets import load_csv_dir

    data = load_csv_dir(network_dir)
    snapshots = build_snapshots(data.events, data.owners, data.contacts, SnapshotConfig())
    x = snapshots[list(FEATURE_NAMES)].to_numpy(np.float64)
    y = snapshots[LABEL].to_numpy()
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "min_child_samples": 5, "verbose": -1,
                         "num_threads": 1, "deterministic": True}, lgb.Dataset(x, y), num_boost_round=60)
    return booster, np.ascontiguousarray(x)


def test_compiled_scores_equal_lightgbm_on_every_row(network_dir: Path) -> None:
    booster, x = _booster(network_dir)
    compiled = compile_booster(booster)
    assert compiled is not None, "lleaves did not compile (or the probe check failed)"
    rng = np.random.default_rng(1)
    noisy = x[rng.integers(0, len(x), 5000)].copy()
    noisy[rng.random(noisy.shape) < 0.1] = np.nan
    noisy[rng.random(noisy.shape) < 0.05] = 0.0
    noisy[rng.random(noisy.shape) < 0.01] = -1e-36  # LightGBM reads these as zero
    for rows in (x, noisy, probe_rows(booster, seed=3)):
        np.testing.assert_array_equal(compiled.predict(rows), booster.predict(rows, raw_score=True))


def test_ranker_scores_the_same_before_and_after_compiling(network_dir: Path) -> None:
    booster, x = _booster(network_dir)
    ranker = IntroRanker(booster, None, "binary", prior_strength=2.0)
    before = ranker.raw_score(x)
    assert ranker.compile() and ranker.compiled is not None
    np.testing.assert_array_equal(ranker.raw_score(x), before)
    frame = pd.DataFrame(x, columns=list(FEATURE_NAMES))
    np.testing.assert_array_equal(ranker.raw_score(frame), before)
    np.testing.assert_array_equal(ranker.raw_score(frame[list(reversed(FEATURE_NAMES))]), before)


def test_compiled_forest_is_kept_for_other_processes_and_checked_when_loaded(network_dir: Path,
                                                                              tmp_path: Path) -> None:
    booster, x = _booster(network_dir)
    expected = booster.predict(x, raw_score=True)
    first = compile_booster(booster, tmp_path / "compiled")
    assert first is not None and not first.loaded
    kept = sorted((tmp_path / "compiled").glob("*.o"))
    assert [p.name for p in kept] == [f"{cache_key(booster.model_to_string())}.o"]  # no temporary file left
    second = compile_booster(booster, tmp_path / "compiled")  # another process: loads, does not compile
    assert second is not None and second.loaded
    np.testing.assert_array_equal(second.predict(x), expected)

    other, _ = _booster_with_rounds(network_dir, 20)  # another model never loads this one's machine code
    assert cache_key(other.model_to_string()) != cache_key(booster.model_to_string())
    third = compile_booster(other, tmp_path / "compiled")
    assert third is not None and not third.loaded
    np.testing.assert_array_equal(third.predict(x), other.predict(x, raw_score=True))

    # A cached file of another forest under this model's name (a copied folder, a hash bug): the probe
    # check refuses it, the file is replaced by a fresh compile, and the scores are still LightGBM's.
    kept[0].write_bytes(next(p for p in (tmp_path / "compiled").glob("*.o") if p != kept[0]).read_bytes())
    fourth = compile_booster(booster, tmp_path / "compiled")
    assert fourth is not None and not fourth.loaded
    np.testing.assert_array_equal(fourth.predict(x), expected)
    assert compile_booster(booster, tmp_path / "compiled").loaded


def test_workers_starting_together_compile_a_model_once(network_dir: Path, tmp_path: Path) -> None:
    booster, x = _booster(network_dir)
    with ThreadPoolExecutor(3) as pool:  # each call opens the lock file itself, as processes do
        results = list(pool.map(lambda _i: compile_booster(booster, tmp_path / "compiled"), range(3)))
    assert all(r is not None for r in results)
    assert sorted(r.loaded for r in results) == [False, True, True]
    for r in results:
        np.testing.assert_array_equal(r.predict(x), booster.predict(x, raw_score=True))


def _booster_with_rounds(network_dir: Path, rounds: int) -> tuple[lgb.Booster, np.ndarray]:
    booster, x = _booster(network_dir)
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds)), x


def _same_intervals(x: np.ndarray, thresholds: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Other values for every cell with the same side of every split: the interval's upper bound
    (a threshold itself, which goes left) or a random point inside it; NaN and 0 stay."""
    out = x.copy()
    for j, t in enumerate(thresholds):
        col = x[:, j]
        plain = ~np.isnan(col) & (np.abs(col) > ZERO_THRESHOLD)  # LightGBM reads the rest as 0
        b = np.searchsorted(t, col, side="left")
        lo = np.where(b > 0, t[np.maximum(b - 1, 0)] if len(t) else col - 1, col - 1.0)
        hi = np.where(b < len(t), t[np.minimum(b, len(t) - 1)] if len(t) else col + 1, col + 1.0)
        inside = lo + (hi - lo) * rng.uniform(0.01, 1.0, len(col))
        new = np.where((rng.random(len(col)) < 0.5) | (inside <= lo), hi, inside)  # lo itself is the bin below
        keep = np.abs(new) <= ZERO_THRESHOLD  # a new zero would take the missing-value branch: keep the old value
        out[:, j] = np.where(plain & ~keep, new, col)
    return out


def test_contribution_memo_equals_lightgbm_treeshap(network_dir: Path) -> None:
    booster, x = _booster(network_dir)
    thresholds = split_thresholds(booster)
    assert thresholds is not None
    memo = ContributionMemo(booster, num_threads=1, capacity=100_000)
    rng = np.random.default_rng(2)
    rows = np.ascontiguousarray(np.vstack([x[rng.integers(0, len(x), 400)], probe_rows(booster, n=600, seed=4)]))
    rows[rng.random(rows.shape) < 0.01] = -1e-36  # read as zero by LightGBM, and so by the memo
    np.testing.assert_array_equal(memo.contributions(rows), booster.predict(rows, pred_contrib=True))
    assert memo.misses > 0 and memo.hits < memo.misses
    moved = np.ascontiguousarray(_same_intervals(rows, thresholds, rng))
    assert not np.array_equal(moved, rows, equal_nan=True)
    assert memo.signatures(moved) == memo.signatures(rows)
    hits = memo.hits
    np.testing.assert_array_equal(memo.contributions(moved), booster.predict(moved, pred_contrib=True))
    assert memo.hits - hits == len(rows)  # every row answered from the memo, and exactly
    across = rows.copy()  # a value just past its interval's upper bound takes the other side somewhere
    j = next(j for j, t in enumerate(thresholds) if len(t))
    across[:, j] = np.nextafter(thresholds[j][0], np.inf)
    below = rows.copy()
    below[:, j] = thresholds[j][0]
    assert memo.signatures(across[:1]) != memo.signatures(below[:1])
    np.testing.assert_array_equal(memo.contributions(across), booster.predict(across, pred_contrib=True))


def test_ranker_contributions_go_through_a_bounded_memo(network_dir: Path) -> None:
    booster, x = _booster(network_dir)
    ranker = IntroRanker(booster, None, "binary", prior_strength=2.0)
    want = ranker.contributions(x[:50])
    memo = ranker.memo
    assert memo is not None and memo.misses == 50
    np.testing.assert_array_equal(ranker.contributions(x[:50]), want)  # the prior's part is added afresh
    assert memo.hits >= 50
    np.testing.assert_allclose(want.sum(axis=1), ranker.raw_score(x[:50]), rtol=1e-9, atol=1e-9)
    import pickle

    again = pickle.loads(pickle.dumps(ranker))  # a ranker with a memo still pickles (joblib, MLflow)
    np.testing.assert_array_equal(again.contributions(x[:50]), want)
    memo.capacity = 10
    ranker.contributions(x[50:90])  # rows not seen yet: each one stored, the oldest evicted
    assert len(memo._rows) <= 10


def test_contribution_memo_stands_aside_for_categorical_splits() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 6, 600), rng.random(600)]).astype(np.float64)
    y = (x[:, 0] % 2 == 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_per_group": 5,
                         "cat_smooth": 1}, lgb.Dataset(x, y, categorical_feature=[0]), num_boost_round=5)
    assert split_thresholds(booster) is None
    memo = ContributionMemo(booster, num_threads=1)
    assert not memo.enabled
    np.testing.assert_array_equal(memo.contributions(x[:20]), booster.predict(x[:20], pred_contrib=True))
