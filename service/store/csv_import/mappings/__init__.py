"""Declarative mappings from a CRM's own export format to ours (SPEC "CSV import format").

A mapping is a TOML file with one table per file kind (``[owners]``,
``[contacts]``, ``[events]``). Applying it turns a foreign export into a frame
of our column names and vocabulary, so the importer's normal validation (and
its error messages, and its all-or-nothing transaction) applies unchanged::

    [events]
    columns = { "Engagement ID" = "event_id", "Engagement type" = ["type", "direction"] }
    join = { name = ["First Name", "Last Name"] }      # several columns -> one, space-joined
    constants = { goal = "business_growth" }           # a column the CRM has no equivalent for
    skip = { "Status" = ["Not Started"] }              # rows that are not interactions
    timestamp_format = ["epoch_ms", "%m/%d/%Y %I:%M %p"]   # tried in order; strptime or epoch_ms
    timezone = "America/New_York"                      # for naive times; converted to UTC
    [events.values.type]                               # foreign value -> ours, per our column
    EMAIL = "message"

Why each rule is the way it is:
- Header and value matching ignores case and surrounding spaces: exports are
  re-saved by spreadsheets, and the reader already lower-cases headers.
- With a section, only what it maps is kept: a foreign column that happens to
  be called ``name`` or ``type`` can never leak in unmapped. A file kind the
  mapping has no section for is read in our own format (mix a CRM's contacts
  with a hand-written owners.csv).
- A foreign column is required when it feeds one of our required columns or a
  ``skip`` rule; one feeding an optional column may be absent (the column is
  then absent too, and stored values are left alone, as for our own files).
- A value with no entry in a value map is an error naming the line, not a
  guess: a silently mis-typed event would train the model on wrong data. Empty
  cells stay empty (the importer decides) unless the map has a ``""`` entry.
- The mapping is checked entirely when loaded (kinds, keys, our column names,
  our vocabulary), so a typo fails before any data file is read.

``load`` reads and checks a TOML file; ``apply`` runs it on a frame. The shipped
mappings (``hubspot.toml``, ``salesforce.toml``) sit next to them.
"""

from introrank.service.store.csv_import.mappings.apply import apply_mapping
from introrank.service.store.csv_import.mappings.load import (
    EPOCH_MS,
    KINDS,
    SHIPPED,
    FileMapping,
    Mapping,
    load_mapping,
    shipped_names,
)

__all__ = [
    "EPOCH_MS",
    "KINDS",
    "SHIPPED",
    "FileMapping",
    "Mapping",
    "apply_mapping",
    "load_mapping",
    "shipped_names",
]
