"""The keep-warm list of an owner: the same candidates and model as the recommendations, aged.

Each tie is aged ``AGE_DAYS`` with no new events while the owner's other ties
stay as they are (``introrank.model.features.relative_to``), and the model says
what that silence would cost.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection

from introrank.model.constants import CONTACT_ID
from introrank.model.events import SECONDS_PER_DAY
from introrank.model.features import relative_to
from introrank.model.keep_warm import AGE_DAYS, KeepWarm, keep_warm_list
from introrank.service.serving.candidates import (
    candidate_features,
    load_owner_record,
    owner_profile,
    states_as_of,
)
from introrank.service.serving.model_holder import ServedModel
from introrank.service.serving.profile_cache import ProfileCache
from introrank.service.store.aggregates import load_owner_states


def keep_warm(conn: Connection, tenant_id: int, owner_id: str, served: ServedModel, k: int,
              as_of: float | None = None, cache: ProfileCache | None = None
              ) -> tuple[float, list[tuple[str, KeepWarm]]]:
    """Cooling ties: the same features now and with the tie aged alone, through one model."""
    owner = load_owner_record(conn, tenant_id, owner_id)
    at = time.time() if as_of is None else as_of
    states = load_owner_states(conn, tenant_id, owner_id) if as_of is None else states_as_of(
        conn, tenant_id, owner_id, at)
    profile = owner_profile(conn, tenant_id, owner, None, cache)
    now, rows, _ = candidate_features(states, None, None, at, None, profile)
    if now.empty:
        return at, []
    aged, _, _ = candidate_features(states, None, None, at + AGE_DAYS * SECONDS_PER_DAY, None, profile)
    later = relative_to(aged, now)
    excluded = rows["do_not_recommend"].fillna(False).to_numpy(bool)
    items = keep_warm_list(now, later, served.ranker.predict_proba(now), served.ranker.predict_proba(later), at, k,
                           excluded)
    return at, [(str(rows[CONTACT_ID].iloc[it.index]), it) for it in items]
