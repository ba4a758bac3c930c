"""People are keyed by their profile URL: its canonical form, the contact_id made from it, and who the owner is.

One person appears under several spellings of one URL across the archive's files
(``https://www.linkedin.com/in/ada-l``, ``www.linkedin.com/in/ada-l`` in the
endorsement files, ``https://uk.linkedin.com/in/Ada-L/``), so every URL is reduced
to ``linkedin.com/<path>`` lower-cased and percent-decoded before anything is
matched. The contact_id is the ``/in/<slug>`` part when the slug fits the id
grammar (model/grammar.py), so ids stay readable and stable across exports;
otherwise (a slug with non-ASCII letters, an old ``/pub/`` URL) it is ``li:``
and 16 hex digits of the canonical URL's SHA-256, as stable and never a slug
(slugs hold no ``:``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from urllib.parse import unquote, urlsplit

import pandas as pd

from introrank.model.grammar import id_problem
from introrank.service.store.csv_import.checks import Checks

HASHED_PREFIX = "li:"


def canonical_url(url: str) -> str | None:
    """``linkedin.com/in/slug`` for any spelling of a LinkedIn URL; None when it is not one."""
    text = url.strip()
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        return None
    path = unquote(parts.path).lower().rstrip("/")
    if not path or path == "/":
        return None
    return f"linkedin.com{path}"


def contact_id_of(canonical: str) -> str:
    """The readable slug of ``linkedin.com/in/<slug>``, else a stable ``li:<hash>``."""
    path = canonical.removeprefix("linkedin.com")
    if path.startswith("/in/"):
        slug = path.removeprefix("/in/")
        if "/" not in slug and id_problem(slug) is None:
            return slug
    return HASHED_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def canonical_urls(checks: Checks, column: str) -> pd.Series:
    """The column's URLs in canonical form ("" where empty); a cell that is no LinkedIn URL is flagged."""
    cells = checks.frame[column]
    known = {u: canonical_url(u) for u in cells.unique()}
    out = cells.map(lambda u: known[u] or "")
    checks.flag((out == "") & (cells != ""), column, "'{value}' is not a LinkedIn profile URL "
                "(expected e.g. https://www.linkedin.com/in/their-name)")
    return out


def detect_owner(participants: list[tuple[str, set[str]]], connections: set[str]) -> str | None:
    """The owner's canonical URL from messages: the one person in more conversations than anyone else.

    ``participants``: per conversation, the canonical URLs in it. The owner takes part
    in every conversation of their own archive, a contact only in theirs; people
    in Connections.csv are never the owner. Needs two conversations at least, and
    a strict lead, or it answers None (the caller then asks for ``--owner-url``).
    """
    counts = Counter(url for _, urls in participants for url in urls if url and url not in connections)
    ranked = counts.most_common(2)
    if not ranked or ranked[0][1] < 2 or (len(ranked) == 2 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]
