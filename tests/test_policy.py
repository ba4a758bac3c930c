"""Explanations, actions and re-ranking: the words and rules a person sees."""

import numpy as np
import pandas as pd

from introrank.model.actions import ASK_ACTION, GIVE_FIRST, WARM_UP, suggest_action
from introrank.model.explain import top_reasons
from introrank.model.features import FEATURE_NAMES
from introrank.model.rerank import RerankPolicy, rerank


def _row(**values):
    base = dict.fromkeys(FEATURE_NAMES, 0.0)
    base.update(days_since_last_event=9.0, warmth_30d=3.0, events_90d=4, events_365d=10, give_ask_balance=0)
    base.update(values)
    return pd.Series(base)


def test_reasons_follow_contributions_with_real_values():
    frame = pd.DataFrame([_row(stage_gap=2.0, stage_2_3_ahead=1.0, asks_90d=3.0, give_ask_balance=-3.0)])
    contrib = np.zeros((1, len(FEATURE_NAMES) + 1))
    names = list(FEATURE_NAMES)
    contrib[0, names.index("days_since_last_event")] = 0.9
    contrib[0, names.index("stage_2_3_ahead")] = 0.5
    contrib[0, names.index("stage_gap")] = 0.4  # same sentence as the flag: said once
    contrib[0, names.index("asks_90d")] = 0.3
    contrib[0, names.index("warmth_30d")] = -1.0  # pushes down: never a reason
    reasons = top_reasons(frame, contrib)[0]
    assert reasons == ["You last spoke 9 days ago", "They are 2 career stages ahead of you",
                       "You have asked 3 times in 90 days without giving"]


def test_goal_fit_says_the_stage_that_makes_it_and_only_once():
    row = _row(stage_gap=2.0, stage_2_3_ahead=1.0, goal_relevance=0.7, goal_skill_building=1.0,
               contact_stage_inferred=1.0)
    names = list(FEATURE_NAMES)
    contrib = np.zeros((1, len(FEATURE_NAMES) + 1))
    contrib[0, names.index("goal_relevance")] = 0.9
    contrib[0, names.index("stage_2_3_ahead")] = 0.5  # the same fact: not said a second time
    contrib[0, names.index("days_since_last_event")] = 0.1
    reasons = top_reasons(pd.DataFrame([row]), contrib)[0]
    assert reasons == ["A strong fit for your current goal: They appear to be 2 career stages ahead of you "
                       "(from their title)", "You last spoke 9 days ago"]
    # A goal that does not weigh seniority (job search: industry and company) keeps the plain sentence.
    plain = _row(stage_gap=2.0, stage_2_3_ahead=1.0, goal_relevance=0.6, goal_job_search=1.0, company_match=1.0)
    assert top_reasons(pd.DataFrame([plain]), contrib)[0][0] == "A strong fit for your current goal"


def test_heuristic_reasons_without_contributions():
    reasons = top_reasons(pd.DataFrame([_row()]), None)[0]
    assert "You last spoke 9 days ago" in reasons


def test_action_policy():
    assert suggest_action(_row(give_ask_balance=-2)).type == GIVE_FIRST
    assert "2 more times" in suggest_action(_row(give_ask_balance=-2)).reason
    assert suggest_action(_row(days_since_last_event=200.0, warmth_30d=0.01)).type == WARM_UP
    assert suggest_action(_row()).type == ASK_ACTION


def test_rerank_rules():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    companies = np.array(["Acme", "acme ", "Acme", "", "", "Other"], dtype=object)
    dnr = np.array([False, False, False, False, True, False])
    last_ask = np.array([np.nan, np.nan, np.nan, 5.0, np.nan, 40.0])
    chosen = rerank(scores, companies, dnr, last_ask, k=5, policy=RerankPolicy(max_per_company=2))
    # third Acme dropped, contact 3 cooling down after an ask, 4 is do-not-recommend
    assert chosen.tolist() == [0, 1, 5]


def test_empty_company_is_not_one_company():
    chosen = rerank(np.array([0.9, 0.8, 0.7]), np.array(["", None, ""], dtype=object), np.zeros(3, bool),
                    np.full(3, np.nan), k=3, policy=RerankPolicy(max_per_company=1))
    assert chosen.tolist() == [0, 1, 2]


def test_impressions_sink_a_contact():
    scores = np.array([0.5, 0.45])
    plain = rerank(scores, np.array(["", ""], dtype=object), np.zeros(2, bool), np.full(2, np.nan), k=2)
    shown = rerank(scores, np.array(["", ""], dtype=object), np.zeros(2, bool), np.full(2, np.nan), k=2,
                   unanswered_impressions=np.array([3.0, 0.0]))
    assert plain.tolist() == [0, 1] and shown.tolist() == [1, 0]


def test_a_stage_read_from_a_title_is_said_as_a_guess():
    frame = pd.DataFrame([_row(stage_gap=2.0, stage_2_3_ahead=1.0, contact_stage=7.0, contact_stage_inferred=1.0),
                          _row(stage_gap=-1.0, stage_2_3_ahead=0.0, owner_stage_inferred=1.0),
                          _row(stage_gap=0.0, contact_stage_inferred=1.0, owner_stage_inferred=1.0),
                          _row(stage_gap=3.0, stage_2_3_ahead=1.0)])
    contrib = np.zeros((4, len(FEATURE_NAMES) + 1))
    contrib[:, list(FEATURE_NAMES).index("stage_gap")] = 1.0
    contrib[:, list(FEATURE_NAMES).index("contact_stage_inferred")] = 2.0  # the flag itself says nothing
    reasons = [r[0] for r in top_reasons(frame, contrib)]
    assert reasons == [
        "They appear to be 2 career stages ahead of you (from their title)",
        "They appear to be 1 career stage behind you (from your title): a chance to give back",
        "They appear to be at your career stage (from your job titles): a peer who knows your challenges",
        "They are 3 career stages ahead of you",
    ]
    contrib[:, list(FEATURE_NAMES).index("contact_stage")] = 3.0
    assert top_reasons(frame, contrib)[0][0] == "They appear to be at the executive stage (from their title)"
