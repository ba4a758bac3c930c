"""The simulator: determinism, the shape of the world, and an oracle that means something."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from introrank.model.constants import (
    ASK,
    CAREER_STAGE,
    COMPANY,
    CONTACT_ID,
    CONTACT_OPTIONAL_COLUMNS,
    CONTACT_REQUIRED_COLUMNS,
    CONTACTS_CSV,
    DIRECTION,
    DO_NOT_RECOMMEND,
    EVENT_ID,
    EVENT_OPTIONAL_COLUMNS,
    EVENT_REQUIRED_COLUMNS,
    EVENT_TYPES,
    EVENTS_CSV,
    GIVE,
    IN,
    INDUSTRY,
    INTRO,
    MEETING,
    MESSAGE,
    MUTUAL_CONNECTIONS,
    NAME,
    OCCURRED_AT,
    ORACLE_COLUMNS,
    ORACLE_CSV,
    OUT,
    OWNER_ID,
    OWNER_OPTIONAL_COLUMNS,
    OWNER_REQUIRED_COLUMNS,
    OWNERS_CSV,
    REFERRAL,
    TITLE,
    TOUCH,
    TYPE,
    USEFUL,
)
from introrank.model.seniority import stages_from_titles
from introrank.training.cuts import SECONDS_PER_DAY, cut_times
from introrank.training.simulate import (
    MAX_CONTACTS,
    MIN_CONTACTS,
    SimulatedNetwork,
    sample_contact_counts,
    simulate_network,
    write_network,
)
from introrank.training.simulate import run as simulate_run

MONTHS = 7
HORIZON = 90 * SECONDS_PER_DAY
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
CUT = ORACLE_COLUMNS[2]


@pytest.fixture(scope="module")
def network() -> SimulatedNetwork:
    return simulate_network(n_owners=25, seed=7, months=MONTHS)


@pytest.fixture(scope="module")
def labelled(network: SimulatedNetwork) -> pd.DataFrame:
    """Oracle rows with the realised label, computed independently with plain pandas."""
    ev = network.events
    success = ev[ev[TYPE].isin([INTRO, REFERRAL]) & ~ev[USEFUL].eq(False).fillna(False)]
    oracle = network.oracle
    merged = oracle.merge(success[[OWNER_ID, CONTACT_ID, OCCURRED_AT]], on=[OWNER_ID, CONTACT_ID],
                          how="left")
    hit = (merged[OCCURRED_AT] > merged[CUT]) & (
        merged[OCCURRED_AT] <= merged[CUT] + pd.Timedelta(days=90))
    label = hit.groupby([merged[OWNER_ID], merged[CONTACT_ID], merged[CUT]]).any()
    return oracle.join(label.rename("label"), on=[OWNER_ID, CONTACT_ID, CUT])


def _epoch(values: pd.Series) -> np.ndarray:
    return ((values - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy()


def _written(network: SimulatedNetwork, folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in write_network(network, folder)}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = _written(simulate_network(6, seed=11, months=5), tmp_path / "a")
    again = _written(simulate_network(6, seed=11, months=5), tmp_path / "b")
    other = _written(simulate_network(6, seed=12, months=5), tmp_path / "c")
    assert set(first) == {OWNERS_CSV, CONTACTS_CSV, EVENTS_CSV, ORACLE_CSV}
    assert first == again
    assert all(first[name] != other[name] for name in first)


def test_contact_counts_are_bounded_and_heavy_tailed() -> None:
    counts = sample_contact_counts(np.random.default_rng(0), 200)
    assert counts.min() >= MIN_CONTACTS and counts.max() <= MAX_CONTACTS
    assert 100 <= np.median(counts) <= 220
    assert counts.max() / np.median(counts) > 5


def test_network_contacts_per_owner_within_bounds(network: SimulatedNetwork) -> None:
    per_owner = network.contacts.groupby(OWNER_ID).size()
    assert len(per_owner) == len(network.owners)
    assert per_owner.between(MIN_CONTACTS, MAX_CONTACTS).all()
    assert network.contacts[CONTACT_ID].is_unique


def test_every_event_type_with_its_directions(network: SimulatedNetwork) -> None:
    seen = network.events.groupby(TYPE)[DIRECTION].agg(lambda d: set(d))
    assert set(seen.index) == set(EVENT_TYPES)
    for kind in (TOUCH, MESSAGE, MEETING):
        assert seen[kind] == {OUT, IN}
    assert seen[GIVE] == seen[ASK] == {OUT}
    assert seen[INTRO] == seen[REFERRAL] == {IN}


def test_useful_marks_only_outcomes_and_about_a_tenth_false(network: SimulatedNetwork) -> None:
    ev = network.events
    outcome = ev[TYPE].isin([INTRO, REFERRAL])
    assert ev.loc[~outcome, USEFUL].isna().all()
    false_share = ev.loc[outcome, USEFUL].eq(False).fillna(False).mean()
    assert 0.04 < false_share < 0.2
    assert ev.loc[outcome, USEFUL].eq(True).any()


def test_events_sorted_by_owner_then_time_with_unique_ids(network: SimulatedNetwork) -> None:
    ev = network.events
    assert ev[EVENT_ID].is_unique
    keys = pd.DataFrame({"o": ev[OWNER_ID], "t": _epoch(ev[OCCURRED_AT])})
    assert keys.equals(keys.sort_values(["o", "t"], kind="mergesort"))
    start = pd.Timestamp("2025-01-01", tz="UTC")
    assert ev[OCCURRED_AT].min() >= start
    assert ev[OCCURRED_AT].max() < start + pd.Timedelta(days=30 * MONTHS)


def test_positive_rate_is_plausible(labelled: pd.DataFrame) -> None:
    rate = labelled["label"].mean()
    assert 0.02 < rate < 0.15, rate


def test_oracle_is_a_probability_that_ranks_realised_positives_higher(labelled: pd.DataFrame) -> None:
    p = labelled[ORACLE_COLUMNS[3]]
    assert p.between(0.0, 1.0).all()
    by_label = p.groupby(labelled["label"]).mean()
    assert by_label[True] > 1.5 * by_label[False]


def test_two_or_three_stages_ahead_beats_at_or_below(network: SimulatedNetwork) -> None:
    stages = network.contacts[[OWNER_ID, CONTACT_ID, CAREER_STAGE]].merge(
        network.owners[[OWNER_ID, CAREER_STAGE]], on=OWNER_ID, suffixes=("", "_owner"))
    gap = stages[CAREER_STAGE] - stages[f"{CAREER_STAGE}_owner"]
    oracle = network.oracle.merge(stages.assign(gap=gap), on=[OWNER_ID, CONTACT_ID])
    ahead = oracle.loc[oracle["gap"].isin([2, 3]), ORACLE_COLUMNS[3]].mean()
    behind = oracle.loc[oracle["gap"] <= 0, ORACLE_COLUMNS[3]].mean()
    assert ahead > 2 * behind


def test_oracle_cuts_and_candidates_match_the_trainer_rules(network: SimulatedNetwork) -> None:
    start = pd.Timestamp("2025-01-01", tz="UTC").timestamp()
    expected = cut_times(start, start + MONTHS * 30 * SECONDS_PER_DAY)
    assert len(expected) >= 2
    np.testing.assert_array_equal(np.unique(_epoch(network.oracle[CUT])), expected)
    seen = _epoch(network.events[OCCURRED_AT])  # what the trainer sees: first and last event
    np.testing.assert_array_equal(cut_times(seen.min(), seen.max()), expected)
    first = network.events.groupby([OWNER_ID, CONTACT_ID])[OCCURRED_AT].min()
    for cut in network.oracle[CUT].unique():
        candidates = set(first[first < cut].index)
        rows = network.oracle[network.oracle[CUT] == cut]
        assert set(zip(rows[OWNER_ID], rows[CONTACT_ID], strict=True)) == candidates


def test_csv_files_have_the_import_columns_and_formats(network: SimulatedNetwork,
                                                        tmp_path: Path) -> None:
    paths = {p.name: p for p in write_network(network, tmp_path / "out")}
    expected = {
        OWNERS_CSV: OWNER_REQUIRED_COLUMNS + OWNER_OPTIONAL_COLUMNS,
        CONTACTS_CSV: CONTACT_REQUIRED_COLUMNS + CONTACT_OPTIONAL_COLUMNS,
        EVENTS_CSV: EVENT_REQUIRED_COLUMNS + EVENT_OPTIONAL_COLUMNS,
        ORACLE_CSV: ORACLE_COLUMNS,
    }
    frames = {name: pd.read_csv(paths[name], dtype=str, keep_default_na=False) for name in expected}
    for name, columns in expected.items():
        assert tuple(frames[name].columns) == columns
    events, contacts = frames[EVENTS_CSV], frames[CONTACTS_CSV]
    assert events[OCCURRED_AT].str.match(ISO_UTC).all()
    assert frames[ORACLE_CSV][CUT].str.match(ISO_UTC).all()
    assert set(events[USEFUL]) == {"", "true", "false"}
    assert set(contacts[DO_NOT_RECOMMEND]) == {"true", "false"}
    assert contacts[CAREER_STAGE].replace("", np.nan).dropna().astype(int).between(1, 7).all()
    assert contacts[MUTUAL_CONNECTIONS].str.fullmatch(r"\d+").all()


def test_a_few_percent_of_profile_fields_are_unknown(network: SimulatedNetwork) -> None:
    contacts = network.contacts
    for column in (COMPANY, INDUSTRY, TITLE):
        assert 0.005 < contacts[column].isna().mean() < 0.1, column
    assert 0.001 < contacts[DO_NOT_RECOMMEND].mean() < 0.05


def test_a_share_of_stages_is_left_to_the_title(network: SimulatedNetwork) -> None:
    """As in a real export: many contacts (and some owners) have a title and no stage."""
    contacts, owners = network.contacts, network.owners
    title_only = contacts[CAREER_STAGE].isna() & contacts[TITLE].notna()
    assert 0.2 < title_only.mean() < 0.45
    assert 0.005 < (contacts[CAREER_STAGE].isna() & contacts[TITLE].isna()).mean() < 0.05
    assert owners[CAREER_STAGE].isna().any() and owners[CAREER_STAGE].notna().any()
    assert owners.loc[owners[CAREER_STAGE].isna(), TITLE].notna().all()


def test_titles_say_the_true_stage_or_nothing(network: SimulatedNetwork) -> None:
    """Every simulated title reads as its row's stage, except the few in another language (unknown)."""
    for frame in (network.contacts, network.owners):
        known = frame[frame[CAREER_STAGE].notna() & frame[TITLE].notna()]
        parsed = stages_from_titles(known[TITLE])
        foreign = np.isnan(parsed)
        assert 0 < foreign.mean() < 0.1 or len(known) < 100
        np.testing.assert_array_equal(parsed[~foreign], known[CAREER_STAGE].to_numpy(dtype=float)[~foreign])
    assert network.contacts[TITLE].nunique() > 100  # a vocabulary, not a label per stage


def test_strong_ties_by_mutual_connections_are_busier(network: SimulatedNetwork) -> None:
    counts = network.events.groupby(CONTACT_ID).size()
    contacts = network.contacts.set_index(CONTACT_ID)
    busy = counts.reindex(contacts.index, fill_value=0)
    # Spearman as Pearson on ranks (pandas' method="spearman" imports SciPy: slow).
    assert contacts[MUTUAL_CONNECTIONS].rank().corr(busy.rank()) > 0.2


def test_chunks_keep_every_contact_with_its_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate_run, "OWNERS_PER_CHUNK", 3)
    net = simulate_network(8, seed=1, months=5)
    owner_of = net.contacts.set_index(CONTACT_ID)[OWNER_ID]
    assert (net.events[CONTACT_ID].map(owner_of) == net.events[OWNER_ID]).all()
    assert (net.oracle[CONTACT_ID].map(owner_of) == net.oracle[OWNER_ID]).all()
    assert net.events[OWNER_ID].nunique() == 8


def test_writer_quotes_and_encodes_awkward_text(network: SimulatedNetwork, tmp_path: Path) -> None:
    contacts = network.contacts.head(3).copy()
    contacts[NAME] = ['Zoë "Z" Adams', "Smith, Jr.", None]
    odd = SimulatedNetwork(network.owners.head(1), contacts, network.events.head(2),
                           network.oracle.head(2))
    write_network(odd, tmp_path)
    back = pd.read_csv(tmp_path / CONTACTS_CSV, dtype=str, keep_default_na=False)
    assert back[NAME].tolist() == ['Zoë "Z" Adams', "Smith, Jr.", ""]


def test_progress_off_a_terminal_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    simulate_network(2, seed=0, months=5, progress=True)
    assert capsys.readouterr().out == ""


def test_cut_times_align_to_the_epoch_grid() -> None:
    day = SECONDS_PER_DAY
    cuts = cut_times(20089 * day + 123.0, 20449 * day - 5.0)
    assert np.all(cuts % (30 * day) == 0)
    assert cuts[0] >= 20089 * day + 123.0 + 30 * day
    assert cuts[-1] + 90 * day <= 20449 * day - 5.0
    assert np.all(np.diff(cuts) == 30 * day)
    assert len(cut_times(0.0, 100 * day)) == 0
