"""The feature definitions: point-in-time correctness, values, and the mergeable state."""

import numpy as np
import pandas as pd
import pytest

from introrank.model.aggregates import (
    SCALAR_FIELDS,
    decayed_warmth,
    merge_scalars,
    pair_scalars,
    prune_recent,
    window_stats,
)
from introrank.model.events import SECONDS_PER_DAY, EventArrays, encode_directions
from introrank.model.features import (
    FEATURE_NAMES,
    STATIC_FEATURES,
    assemble,
    dynamic_features,
    features_at_cut,
    relative_features,
    relative_to,
    static_features,
)
from introrank.training.snapshots import SnapshotConfig, build_snapshots, parse_positive

T0 = pd.Timestamp("2025-01-01", tz="UTC").timestamp()
DAY = SECONDS_PER_DAY


def _owners(goal="job_search"):
    return pd.DataFrame({"owner_id": ["o1"], "career_stage": ["2"], "industry": ["tech"], "goal": [goal],
                         "target_industries": ["finance"], "target_companies": ["Acme"]})


def _contacts():
    return pd.DataFrame({"owner_id": ["o1", "o1"], "contact_id": ["c1", "c2"], "company": ["Acme", ""],
                         "industry": ["finance", "retail"], "title": ["", ""], "career_stage": ["4", ""]})


def _event(i, contact, day, kind="message", direction="out", useful=""):
    return {"event_id": f"e{i}", "owner_id": "o1", "contact_id": contact, "occurred_at": T0 + day * DAY,
            "type": kind, "direction": direction, "useful": useful}


def _history():
    rows = [_event(i, "c1", d, "message", "out" if i % 2 else "in") for i, d in enumerate(range(0, 200, 10))]
    rows += [_event(100, "c2", 5, "ask"), _event(101, "c2", 6, "give"), _event(102, "c2", 7, "ask")]
    return pd.DataFrame(rows)


CUT = T0 + 120 * DAY


def _at(cut, events):
    snaps = build_snapshots(events, _owners(), _contacts(), SnapshotConfig(), cuts=[cut])
    return snaps.set_index("contact_id")


def test_future_events_do_not_leak_into_features():
    base = _history()
    future = pd.DataFrame([_event(900 + i, c, 121 + i, k, d) for i, (c, k, d) in enumerate(
        [("c2", "meeting", "in"), ("c2", "referral", "in"), ("c1", "ask", "out"), ("c2", "give", "out")])])
    without = _at(CUT, base)
    with_future = _at(CUT, pd.concat([base, future], ignore_index=True))
    pd.testing.assert_frame_equal(without[list(FEATURE_NAMES)], with_future[list(FEATURE_NAMES)])
    # ...while the label does see the future referral of c2:
    assert without.loc["c2", "label"] == 0 and with_future.loc["c2", "label"] == 1


def test_event_exactly_at_cut_is_not_a_feature():
    at_cut = pd.DataFrame([_event(999, "c2", 120, "meeting", "in")])
    before = _at(CUT, _history())
    after = _at(CUT, pd.concat([_history(), at_cut], ignore_index=True))
    assert np.isnan(before.loc["c2", "days_since_last_meeting"])
    assert np.isnan(after.loc["c2", "days_since_last_meeting"])
    assert after.loc["c2", "days_since_last_event"] == before.loc["c2", "days_since_last_event"]


def test_hand_checked_values():
    f = _at(CUT, _history())
    c1, c2 = f.loc["c1"], f.loc["c2"]
    assert c1["days_since_last_event"] == pytest.approx(10.0)  # last event on day 110
    assert c1["events_30d"] == 3  # days 90, 100, 110
    assert c1["tie_age_days"] == pytest.approx(120.0)
    assert c2["give_ask_balance"] == -1
    assert c2["days_since_last_ask"] == pytest.approx(113.0)
    assert c2["asks_90d"] == 0
    assert c1["stage_gap"] == 2 and c1["stage_2_3_ahead"] == 1
    assert c1["industry_match"] == 1 and c1["company_match"] == 1
    assert np.isnan(c2["stage_gap"]) and np.isnan(c2["company_match"])  # unknown stays unknown
    # c1 answers every outbound message within 10 days, not within 7: responsiveness stays at the prior side
    assert 0 < c1["responsiveness"] < 0.5


def test_goal_override_changes_goal_features_only():
    contacts = _contacts().assign(career_stage=["3", ""])  # one stage ahead: no mentor bonus
    pairs = contacts[["owner_id", "contact_id"]]
    job = static_features(pairs, _owners("job_search"), contacts)
    mentor = static_features(pairs, _owners("job_search"), contacts, goal="skill_building")
    assert (job["goal_job_search"] == 1).all() and (mentor["goal_skill_building"] == 1).all()
    assert job.loc[0, "goal_relevance"] != mentor.loc[0, "goal_relevance"]
    pd.testing.assert_series_equal(job["stage_gap"], mentor["stage_gap"])


def test_empty_stage_is_read_from_the_title_and_flagged():
    contacts = _contacts().assign(title=["Product Manager", "VP Engineering"], career_stage=["4", ""])
    owners = _owners().assign(career_stage=[""], title=["Engineering Manager at Initech"])
    f = static_features(contacts[["owner_id", "contact_id"]], owners, contacts)
    # c1's given stage wins over its title; c2's comes from its title, and so does the owner's.
    assert list(f["contact_stage"]) == [4, 7] and list(f["contact_stage_inferred"]) == [0, 1]
    assert list(f["owner_stage"]) == [5, 5] and list(f["owner_stage_inferred"]) == [1, 1]
    assert list(f["stage_gap"]) == [-1, 2] and list(f["stage_2_3_ahead"]) == [0, 1]


def test_a_title_that_says_nothing_leaves_the_stage_unknown():
    contacts = _contacts().assign(title=["Geschäftsführer", None], career_stage=["", ""])
    f = static_features(contacts[["owner_id", "contact_id"]], _owners(), contacts)
    assert f["contact_stage"].isna().all() and (f["contact_stage_inferred"] == 0).all()
    assert f["stage_gap"].isna().all() and f["stage_2_3_ahead"].isna().all()
    # Exports without a title column at all (the owners here, CollegeMsg) keep the stages they give.
    assert (f["owner_stage"] == 2).all() and (f["owner_stage_inferred"] == 0).all()


def test_a_vice_president_at_a_bank_is_not_an_executive():
    contacts = _contacts().assign(title=["Vice President", "Vice President"], career_stage=["", ""],
                                  company=["Goldman Sachs", "Acme"], industry=["finance", "finance"])
    f = static_features(contacts[["owner_id", "contact_id"]], _owners(), contacts)
    assert list(f["contact_stage"]) == [4, 7]


def test_title_inferred_stage_cannot_leak_outcomes():
    """The inferred stage reads only profile text (title, company, industry), never an event.

    So no outcome of any time can reach it: future intros, referrals and feedback change
    nothing of it, and a profile feature is the same at every cut.
    """
    contacts = _contacts().assign(title=["Senior Engineer", "VP Engineering"], career_stage=["", ""])
    owners = _owners().assign(career_stage=[""], title=["Analyst"])
    future = pd.DataFrame([_event(900 + i, c, 121 + i, k, "in") for i, (c, k) in enumerate(
        [("c1", "referral"), ("c2", "intro"), ("c2", "referral")])])
    stage_columns = ["owner_stage", "owner_stage_inferred", "contact_stage", "contact_stage_inferred", "stage_gap",
                     "stage_2_3_ahead"]

    def at(cut, events):
        return build_snapshots(events, owners, contacts, SnapshotConfig(), cuts=[cut]).set_index("contact_id")

    without = at(CUT, _history())
    with_future = at(CUT, pd.concat([_history(), future], ignore_index=True))
    pd.testing.assert_frame_equal(without[list(FEATURE_NAMES)], with_future[list(FEATURE_NAMES)])
    assert with_future.loc["c2", "label"] == 1 and without.loc["c2", "label"] == 0
    later = at(CUT + 30 * DAY, _history())
    pd.testing.assert_frame_equal(without[stage_columns], later[stage_columns])
    assert list(without["contact_stage"]) == [4, 7] and (without["contact_stage_inferred"] == 1).all()


def _random_events(rng, n, n_pairs):
    return EventArrays.build(rng.integers(0, n_pairs, n), T0 + rng.uniform(0, 400, n) * DAY,
                             rng.integers(0, 7, n), rng.integers(0, 2, n),
                             rng.choice([np.nan, 0.0, 1.0], n))


def test_merged_state_equals_state_of_all_events_in_any_order():
    rng = np.random.default_rng(0)
    events = _random_events(rng, 3000, 40)
    whole = pair_scalars(events, 40)
    split = rng.random(len(events)) < 0.5  # a random half arrives "late"
    merged = merge_scalars(pair_scalars(events.take(split), 40), pair_scalars(events.take(~split), 40))
    for field in SCALAR_FIELDS:
        np.testing.assert_allclose(merged[field], whole[field], rtol=1e-9, equal_nan=True, err_msg=field)


def test_warmth_of_a_future_last_event_is_its_undecayed_sum_never_infinite():
    """A day of clock skew is accepted, and an older store may hold events far ahead: decay never runs backwards."""
    far = 4e11  # about the year 14,600: 2 ** (days / 7) overflows to inf
    events = EventArrays.build(np.array([0, 0, 1]), np.array([T0, T0 + DAY, far]), np.array([1, 1, 1]),
                               np.array([0, 1, 0]), np.full(3, np.nan))
    scalars = pair_scalars(events, 2)
    for at in (T0 + 0.5 * DAY, T0 + DAY):  # before and at pair 0's last event
        warmth = decayed_warmth(scalars, at)
        for field, value in warmth.items():
            assert np.isfinite(value).all(), field
            np.testing.assert_allclose(value, scalars[field], err_msg=field)  # "now" = the last event
    later = decayed_warmth(scalars, T0 + 8 * DAY)
    assert later["warm_7"][0] < scalars["warm_7"][0]  # after it, warmth decays as before
    features = dynamic_features(scalars, window_stats(events, T0, 2), T0)
    assert all(np.isfinite(v).all() for name, v in features.items() if name.startswith("warmth")) and features


def test_pruned_recent_events_answer_windows_exactly():
    rng = np.random.default_rng(1)
    events = _random_events(rng, 3000, 40)
    scalars = pair_scalars(events, 40)
    recent = prune_recent(events, scalars["last_ts"])
    assert len(recent) < len(events)
    later = np.nanmax(scalars["last_ts"]) + 3 * DAY
    full, pruned = window_stats(events, later, 40), window_stats(recent, later, 40)
    for name in full:
        np.testing.assert_array_equal(full[name], pruned[name], err_msg=name)


def test_parse_positive():
    assert parse_positive("intro,referral") == (("intro", None), ("referral", None))
    assert parse_positive("message:in") == (("message", "in"),)
    with pytest.raises(ValueError, match="unknown event type 'lunch'"):
        parse_positive("lunch")
    with pytest.raises(ValueError, match="direction"):
        parse_positive("message:sideways")


def test_pair_time_order_is_lexsort_on_every_input():
    """The fast path (already time-ordered within pairs) and the fallback both give lexsort's order, ties too."""
    from introrank.model.events import _pair_time_order

    rng = np.random.default_rng(0)
    for trial in range(400):
        n = int(rng.integers(0, 60))
        pair, ts = rng.integers(0, 5, n), rng.integers(0, 4, n).astype(float)
        if trial % 2:  # sorted runs, sometimes followed by newer events of the same pairs
            order = np.lexsort((ts, pair))
            pair, ts = pair[order], ts[order]
            if trial % 4 == 1 and n > 2:
                pair, ts = np.concatenate([pair, pair[:2]]), np.concatenate([ts, ts[:2] + 10])
        assert np.array_equal(_pair_time_order(pair, ts), np.lexsort((ts, pair)))


def test_late_events_order_is_lexsort_when_packed_and_when_packing_cannot_be_exact():
    """Two sorted runs with the second one older (late events): the packed-key path and its fallbacks."""
    from introrank.model.events import _packed_pair_time, _pair_time_order

    rng = np.random.default_rng(1)
    now = 1.8e9
    for trial in range(300):
        n_pairs, n_old, n_new = int(rng.integers(1, 40)), int(rng.integers(2, 200)), int(rng.integers(1, 100))
        span = (3e-6, 1.0, 365 * SECONDS_PER_DAY)[trial % 3]  # sub-microsecond gaps force the fallback
        runs = []
        for n, shift in ((n_old, 0.0), (n_new, -span / 2)):  # the second run is older than much of the first
            pair = rng.integers(0, n_pairs, n)
            ts = now + shift + rng.random(n) * span
            ts[: n // 3] = ts[0]  # exact ties too
            order = np.lexsort((ts, pair))
            runs.append((pair[order], ts[order]))
        pair = np.concatenate([runs[0][0], runs[1][0]])
        ts = np.concatenate([runs[0][1], runs[1][1]])
        assert np.array_equal(_pair_time_order(pair, ts), np.lexsort((ts, pair)))
    assert _packed_pair_time(np.array([2**40, 0]), np.array([0.0, 10 * 365 * SECONDS_PER_DAY])) is None  # no fit


def test_blobs_by_pair_equal_one_blob_per_pair():
    from introrank.model.aggregates import decode_recent, encode_recent, encode_recent_by_pair
    from introrank.model.events import EventArrays

    rng = np.random.default_rng(1)
    pair = np.sort(rng.integers(0, 6, 40))
    events = EventArrays.build(pair, rng.random(40) * 1e9, rng.integers(0, 7, 40), rng.integers(0, 2, 40),
                               rng.choice([0.0, 1.0, np.nan], 40))
    blobs = encode_recent_by_pair(events, 8)  # pairs 6 and 7 have no events
    for p, blob in enumerate(blobs):
        e = events.take(events.pair == p)
        assert blob == encode_recent(e.ts, e.type_code, e.dir_code, e.useful)
    back = decode_recent(blobs)
    assert np.array_equal(back.pair, events.pair) and np.array_equal(back.ts, events.ts)


def test_event_encoders_map_every_spelling_and_name_the_first_unknown():
    from introrank.model.constants import DIRECTION_CODES, EVENT_TYPE_CODES
    from introrank.model.events import encode_directions, encode_types, encode_useful

    rng = np.random.default_rng(3)
    types = rng.choice(np.array(list(EVENT_TYPE_CODES)), 500)
    for given in (types, pd.Series(types), pd.Series(types, dtype="string"), list(types)):
        assert encode_types(given).tolist() == [EVENT_TYPE_CODES[t] for t in types]
    directions = ["in", "out", "in"]
    assert encode_directions(np.array(directions)).tolist() == [DIRECTION_CODES[d] for d in directions]
    assert encode_types(np.array([], dtype=object)).shape == (0,)
    for bad, shown in ((["message", "lunch", "poke"], "'lunch'"), (["message", None], "None")):
        with pytest.raises(ValueError, match=f"unknown event type {shown}"):
            encode_types(np.array(bad, dtype=object))

    useful = encode_useful(pd.Series(["true", "FALSE ", "", None, "1", "0", "maybe", "nan"], dtype=object), 8)
    assert np.array_equal(useful, [1.0, 0.0, np.nan, np.nan, 1.0, 0.0, np.nan, np.nan], equal_nan=True)
    assert np.array_equal(encode_useful([True, None, False], 3), [1.0, np.nan, 0.0], equal_nan=True)
    assert np.array_equal(encode_useful(pd.Series([1, 0, 1]), 3), [1.0, 0.0, 1.0])
    assert np.array_equal(encode_useful(pd.Series(["true", pd.NA], dtype="string"), 2), [1.0, np.nan], equal_nan=True)
    assert np.isnan(encode_useful(None, 2)).all()


def test_relative_features_equal_pandas_group_ranks():
    """The one relative-feature code against pandas' own group rank and min, NaN and ties included."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        groups = rng.integers(0, 4, n).astype(str)
        last, last_in = (rng.integers(0, 15, n).astype(float) for _ in range(2))
        last[rng.random(n) < 0.2], last_in[rng.random(n) < 0.3] = np.nan, np.nan
        frame = pd.DataFrame({"g": groups, "last": last, "last_in": last_in})
        by = frame.groupby("g", sort=False)
        got = relative_features({"days_since_last_event": last, "days_since_last_in": last_in}, groups)
        np.testing.assert_array_equal(got["recency_rank"], by["last"].rank(method="average", pct=True))
        np.testing.assert_array_equal(got["inbound_recency_rank"], by["last_in"].rank(method="average", pct=True))
        np.testing.assert_array_equal(got["days_behind_freshest"], frame["last"] - by["last"].transform("min"))


def test_keep_warm_ages_one_tie_as_the_feature_code_would():
    """Keep-warm's aged row i equals the features of the list where tie i alone aged and the rest stayed."""
    rng = np.random.default_rng(6)
    n = 30
    events = _random_events(rng, 600, n)
    outbound_only = encode_directions(np.array(["out"]))[0]
    events = EventArrays.build(events.pair, events.ts, events.type_code,
                               np.where(events.pair < 5, outbound_only, events.dir_code), events.useful)
    cut = float(np.nanmax(events.ts)) + DAY
    now_dynamic = features_at_cut(events, n, cut)
    aged_dynamic = features_at_cut(events, n, cut + 60 * DAY)
    static = np.zeros((n, len(STATIC_FEATURES)))
    now, aged = assemble(now_dynamic, static), assemble(aged_dynamic, static)
    assert now["days_since_last_in"].isna().any()  # NaN ties are part of the check
    got = relative_to(aged, now)
    assert not np.allclose(got["recency_rank"], aged["recency_rank"])  # not the whole list aged together
    for i in range(n):
        alone = {k: np.where(np.arange(n) == i, aged_dynamic[k], v) for k, v in now_dynamic.items()}
        expected = assemble(alone, static).iloc[i]
        np.testing.assert_allclose(got.iloc[i].to_numpy(), expected.to_numpy(), rtol=1e-12, equal_nan=True,
                                   err_msg=f"tie {i}")


def window_stats_reference(recent: EventArrays, at: float, n_pairs: int) -> dict[str, np.ndarray]:
    """The window statistics counted one by one on the events of the window (the one-pass
    ``window_stats`` replaced this)."""
    from introrank.model.aggregates import ASK_WINDOW_DAYS, INBOUND_WINDOW_DAYS, RECENT_DAYS, RESPONSE_DAYS, WINDOW_DAYS
    from introrank.model.constants import ASK, EVENT_TYPE_CODES

    def count(pair: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(pair[mask], minlength=n_pairs).astype(np.float64)

    ev = recent.take((recent.ts < at) & (recent.ts >= at - RECENT_DAYS * DAY))
    age_days = (at - ev.ts) / DAY
    out = {f"n_{d}d": count(ev.pair, age_days <= d) for d in WINDOW_DAYS}
    for d in INBOUND_WINDOW_DAYS:
        out[f"in_{d}d"] = count(ev.pair, (age_days <= d) & (ev.dir_code == 1))
    out["asks_90d"] = count(ev.pair, (age_days <= ASK_WINDOW_DAYS) & (ev.type_code == EVENT_TYPE_CODES[ASK]))
    outbound = ev.dir_code == 0
    answered = np.zeros(len(ev), dtype=bool)
    inbound = np.flatnonzero(ev.dir_code == 1)
    if len(ev) and len(inbound):
        keys = (ev.pair << 32) + np.floor(ev.ts).astype(np.int64)
        nxt = np.searchsorted(keys[inbound], keys, side="right")
        idx = inbound[np.minimum(nxt, len(inbound) - 1)]
        answered = (nxt < len(inbound)) & (ev.pair[idx] == ev.pair) & (ev.ts[idx] - ev.ts <= RESPONSE_DAYS * DAY)
    out["outs_365d"] = count(ev.pair, outbound)
    out["answered_365d"] = count(ev.pair, outbound & answered)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_one_pass_window_stats_equal_counting_each_statistic(seed: int) -> None:
    """At times inside, before and after the events, with ages exactly on every window's edge and
    answers on the edge of the response window, just before ``at`` and after it."""
    rng = np.random.default_rng(seed)
    n_pairs = int(rng.integers(1, 60))
    events = _random_events(rng, int(rng.integers(0, 4000)), n_pairs)
    at_values = [T0 + rng.uniform(-10, 800) * DAY for _ in range(6)] + [T0 + 200 * DAY]
    edges = np.array([0.0, 7, 30, 90, 365, 365.5, 7 + 1e-9]) * DAY
    edge_events = EventArrays.build(rng.integers(0, n_pairs, 2 * len(edges)),
                                    np.r_[T0 + 200 * DAY - edges, T0 + 200 * DAY - edges + 7 * DAY],
                                    rng.integers(0, 7, 2 * len(edges)), np.r_[np.zeros(len(edges)),
                                                                             np.ones(len(edges))],
                                    np.full(2 * len(edges), np.nan))
    both = EventArrays.build(np.r_[events.pair, edge_events.pair], np.r_[events.ts, edge_events.ts],
                             np.r_[events.type_code, edge_events.type_code],
                             np.r_[events.dir_code, edge_events.dir_code], np.r_[events.useful, edge_events.useful])
    for recent in (events, both, events.take(np.zeros(len(events), dtype=bool))):
        for at in at_values:
            got, want = window_stats(recent, at, n_pairs), window_stats_reference(recent, at, n_pairs)
            assert got.keys() == want.keys()
            for name in want:
                assert got[name].dtype == want[name].dtype, name
                np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name} at {at}")
