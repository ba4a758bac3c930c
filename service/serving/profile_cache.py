"""An owner's profile features, cached per service process and checked against the database.

Static features (stage gap, industry and company match, goal relevance) depend
only on the owner and their contacts, not on events, yet cost more to build than
the rest of a recommendation. The cache keys them by (tenant, owner, goal) and
trusts an entry only while the owner's ``profile_revision`` (bumped in the same
transaction as every owner or contact write) and ``incarnation`` (new when an
erased owner is created again, whose revisions restart at 0) are the ones it
was built at, so replicas never serve stale profiles. Entries also age out
after ``max_age_seconds`` (``INTRORANK_PROFILE_CACHE_SECONDS``): a bound on how
long a process holds an owner's contact rows at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from introrank.service.serving.revision_cache import RevisionCache


@dataclass(frozen=True)
class Profile:
    contacts: pd.DataFrame  # the owner's contacts, row i = contact i
    static: np.ndarray  # static features (introrank.model.features.STATIC_FEATURES order), row i = contact i
    index: pd.Index  # contact_id -> row
    built_at: float  # when it was built (epoch seconds): entries age out
    # The candidate order last derived from a held states' contact ids (``candidates.candidate_order``):
    # the states cache keeps one ``pairs`` frame while events only touch known pairs, so it is reused.
    orders: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def positions(self, contact_ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 for ids this owner does not have."""
        return self.index.get_indexer(contact_ids) if len(contact_ids) else np.zeros(0, dtype=np.int64)


DEFAULT_MAX_AGE_SECONDS = 600.0


class ProfileCache(RevisionCache[Profile]):
    def __init__(self, capacity: int = 512, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        super().__init__(capacity, max_age_seconds, born=lambda profile: profile.built_at)
