"""The array implementation of the profile features equals the pandas-merge one it replaced.

``reference_static_features`` below is the implementation ``introrank.model.features``
used until issue 13 (string merges per request), kept verbatim as the reference.
"""

import numpy as np
import pandas as pd
import pytest

from introrank.model.constants import (
    CAREER_STAGE,
    COMPANY,
    CONTACT_ID,
    GOAL,
    GOALS,
    INDUSTRY,
    MUTUAL_CONNECTIONS,
    OWNER_ID,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
)
from introrank.model.features import GOAL_RELEVANCE_WEIGHTS, STATIC_FEATURES, stage_or_title, static_features
from introrank.training.datasets import load_csv_dir
from introrank.training.simulate import simulate_network, write_network


def reference_static_features(pairs: pd.DataFrame, owners: pd.DataFrame, contacts: pd.DataFrame,
                    goal: str | None = None) -> pd.DataFrame:
    """Profile features of each (owner_id, contact_id) row of ``pairs``, in its order.

    Unknown attributes stay NaN. ``goal`` overrides every owner's stored goal
    (the endpoint's ``goal`` parameter).
    """
    frame = pairs[[OWNER_ID, CONTACT_ID]].astype(str).merge(
        _owner_columns(owners), on=OWNER_ID, how="left", sort=False
    ).merge(_contact_columns(contacts), on=[OWNER_ID, CONTACT_ID], how="left", sort=False)
    if goal is not None:
        frame["owner_goal"] = goal
    gap = frame["contact_stage"] - frame["owner_stage"]
    ahead = gap.isin([2, 3]).astype(float).where(gap.notna())
    industry = _industry_match(frame)
    company = _company_match(frame)
    out = pd.DataFrame(
        {
            "owner_stage": frame["owner_stage"],
            "contact_stage": frame["contact_stage"],
            "stage_gap": gap,
            "stage_2_3_ahead": ahead,
            "owner_stage_inferred": frame["owner_stage_inferred"].fillna(0.0),
            "contact_stage_inferred": frame["contact_stage_inferred"].fillna(0.0),
            "mutual_connections": frame["mutual_connections"],
            "industry_match": industry,
            "company_match": company,
        },
        index=pairs.index,
    )
    out["goal_relevance"] = _goal_relevance(frame["owner_goal"].to_numpy(), industry, company, ahead)
    for g in GOALS:
        out[f"goal_{g}"] = (frame["owner_goal"].to_numpy() == g).astype(float)
    return out


def _owner_columns(owners: pd.DataFrame) -> pd.DataFrame:
    industry = owners[INDUSTRY] if INDUSTRY in owners else None
    stage, inferred = stage_or_title(owners, None, industry)
    return pd.DataFrame(
        {
            OWNER_ID: owners[OWNER_ID].astype(str),
            "owner_stage": stage,
            "owner_stage_inferred": inferred,
            "owner_industry": industry,
            "owner_goal": owners[GOAL],
            "targets_ind": _as_lists(owners, TARGET_INDUSTRIES),
            "targets_comp": _as_lists(owners, TARGET_COMPANIES),
        }
    )


def _contact_columns(contacts: pd.DataFrame) -> pd.DataFrame:
    mutual = contacts[MUTUAL_CONNECTIONS] if MUTUAL_CONNECTIONS in contacts else np.nan
    stage, inferred = stage_or_title(contacts, contacts[COMPANY], contacts[INDUSTRY])
    return pd.DataFrame(
        {
            OWNER_ID: contacts[OWNER_ID].astype(str),
            CONTACT_ID: contacts[CONTACT_ID].astype(str),
            "contact_stage": stage,
            "contact_stage_inferred": inferred,
            "contact_industry": contacts[INDUSTRY],
            "contact_company": contacts[COMPANY],
            "mutual_connections": pd.to_numeric(pd.Series(mutual, index=contacts.index),
                                                errors="coerce").astype(float),
        }
    )


def _as_lists(frame: pd.DataFrame, column: str) -> list[list[str]]:
    """List columns arrive as lists (store, API) or ';'-joined text (CSV)."""
    if column not in frame:
        return [[] for _ in range(len(frame))]
    return [_to_list(v) for v in frame[column]]


def _to_list(value: object) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v).strip().lower() for v in value if str(v).strip()]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [v.strip().lower() for v in str(value).split(";") if v.strip()]


def _normalized(values: pd.Series) -> pd.Series:
    """Lower-cased, trimmed text; unknown (None, NaN, empty) becomes NA."""
    text = pd.Series(values, dtype="string").str.strip().str.lower()
    return text.mask(text == "")


def _member(owner_ids: pd.Series, values: pd.Series, targets: list[list[str]]) -> np.ndarray:
    """Whether each row's value is in its owner's target list, via one vectorised lookup."""
    wanted = {f"{o}\x1f{t}" for o, ts in zip(owner_ids, targets, strict=True) for t in ts}
    if not wanted:
        return np.zeros(len(values), dtype=bool)
    keys = pd.Series(owner_ids, dtype="string").str.cat(values.fillna(""), sep="\x1f")
    return keys.isin(wanted).to_numpy(dtype=bool)


def _industry_match(frame: pd.DataFrame) -> np.ndarray:
    """1 when the contact works in an industry the owner targets (own industry if none)."""
    industry = _normalized(frame["contact_industry"])
    own = _normalized(frame["owner_industry"]).fillna("").to_numpy(object)
    targets = [t if t else ([o] if o else []) for t, o in zip(frame["targets_ind"], own, strict=True)]
    hit = _member(frame[OWNER_ID], industry, targets).astype(float)
    return np.where(industry.isna().to_numpy(), np.nan, hit)


def _company_match(frame: pd.DataFrame) -> np.ndarray:
    company = _normalized(frame["contact_company"])
    hit = _member(frame[OWNER_ID], company, list(frame["targets_comp"])).astype(float)
    return np.where(company.isna().to_numpy(), np.nan, hit)


def _goal_relevance(goals: np.ndarray, industry: np.ndarray, company: np.ndarray,
                    ahead: pd.Series) -> np.ndarray:
    w = np.array([GOAL_RELEVANCE_WEIGHTS.get(g, (0.0, 0.0, 0.0)) for g in goals]).reshape(-1, 3)
    parts = np.column_stack([np.nan_to_num(industry), np.nan_to_num(company),
                             np.nan_to_num(ahead.to_numpy(dtype=float))])
    return (w * parts).sum(axis=1)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("profile-network")
    write_network(simulate_network(n_owners=12, seed=3, months=6), folder)
    return load_csv_dir(folder)


def _pairs(network) -> pd.DataFrame:  # noqa: ANN001
    return network.contacts[[OWNER_ID, CONTACT_ID]].reset_index(drop=True)


def _assert_same(pairs: pd.DataFrame, owners: pd.DataFrame, contacts: pd.DataFrame, goal: str | None = None) -> None:
    fast = static_features(pairs, owners, contacts, goal)
    reference = reference_static_features(pairs, owners, contacts, goal)[list(STATIC_FEATURES)].astype(float)
    assert list(fast.columns) == list(STATIC_FEATURES)
    pd.testing.assert_frame_equal(fast, reference, check_exact=True)


def test_equal_to_the_reference_on_a_simulated_network(network) -> None:  # noqa: ANN001
    contacts = network.contacts
    assert contacts[CAREER_STAGE].isna().any() or (contacts[CAREER_STAGE].astype(str) == "").any()  # titles read
    _assert_same(_pairs(network), network.owners, contacts)


@pytest.mark.parametrize("goal", list(GOALS))
def test_equal_to_the_reference_with_the_goal_overridden(network, goal: str) -> None:  # noqa: ANN001
    _assert_same(_pairs(network), network.owners, network.contacts, goal)


def test_equal_to_the_reference_shuffled_with_unknown_contacts_and_store_lists(network) -> None:  # noqa: ANN001
    pairs = _pairs(network).sample(frac=1.0, random_state=1).reset_index(drop=True)
    pairs.loc[::7, CONTACT_ID] = "not-a-contact"  # pairs whose contact is not given: every attribute unknown
    owners = network.owners.copy()  # the store's form: target lists as lists, not ';'-joined text
    for column in (TARGET_INDUSTRIES, TARGET_COMPANIES):
        owners[column] = [[] if not isinstance(v, str) else v.split(";") for v in owners[column]]
    contacts = network.contacts.copy()
    contacts.loc[::5, INDUSTRY] = "  " + contacts.loc[::5, INDUSTRY].astype(str).str.upper() + " "
    contacts.loc[::11, COMPANY] = None
    contacts.loc[::13, MUTUAL_CONNECTIONS] = "n/a"
    _assert_same(pairs, owners, contacts)


def test_one_owner_as_the_service_asks(network) -> None:  # noqa: ANN001
    owner = str(network.owners[OWNER_ID].iloc[0])
    contacts = network.contacts[network.contacts[OWNER_ID] == owner].reset_index(drop=True)
    one = network.owners[network.owners[OWNER_ID] == owner].reset_index(drop=True)
    _assert_same(contacts[[OWNER_ID, CONTACT_ID]], one, contacts)
    _assert_same(contacts[[OWNER_ID, CONTACT_ID]].iloc[:0], one, contacts)


def test_index_of_pairs_is_kept_and_rows_follow_their_keys(network) -> None:  # noqa: ANN001
    pairs = _pairs(network)
    shifted = pairs.set_axis(np.arange(len(pairs)) * 3 + 10)
    out = static_features(shifted, network.owners, network.contacts)
    assert list(out.index) == list(shifted.index)
    np.testing.assert_array_equal(out.to_numpy(), static_features(pairs, network.owners, network.contacts).to_numpy())
