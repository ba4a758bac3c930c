"""Load CRM export CSVs (owners, contacts, events) into the store, all or nothing.

Pipeline per file: ``read_*`` turns the file into a DataFrame of *our* column
names (strings, index = the line number in the file), ``validate_*`` checks and
converts it with vectorised pandas, and the writers upsert it. A column-mapping
step for foreign CRM exports (``mappings``) slots in between reading and validating.

Guarantees, and why they matter to an operator:
- One transaction for the whole import: any bad row raises
  :class:`CsvImportError` (file, line, field, what to do) and the database is
  exactly as before, so a fixed file can simply be imported again.
- Idempotent: owners and contacts are upserted (only changed rows are written),
  events are inserted with ON CONFLICT DO NOTHING on ``(tenant_id, event_id)``.
  Within one file the first row of a repeated key wins; the rest are counted as
  duplicates.
- Empty attribute cells mean "unknown" (NULL / empty list). A whole optional
  column that is absent leaves stored values alone (a re-export without
  ``do_not_recommend`` must not clear the flag).
- Fast: events go in with ``executemany`` on SQLite and COPY on PostgreSQL.

Modules: ``read`` (files -> frames), ``mappings`` (foreign exports -> our columns),
``validate`` (typed frames), ``checks`` (the error and the row checks they share),
``references`` (owners and contacts known), ``upsert`` (owners, contacts),
``bulk_events`` (events), ``report`` (counts), ``pipeline`` (the transaction).
"""

from introrank.service.store.csv_import.checks import CsvImportError
from introrank.service.store.csv_import.pipeline import import_csvs
from introrank.service.store.csv_import.read import read_contacts, read_events, read_owners
from introrank.service.store.csv_import.report import FileReport, ImportReport
from introrank.service.store.csv_import.validate import validate_contacts, validate_events, validate_owners

__all__ = [
    "CsvImportError",
    "FileReport",
    "ImportReport",
    "import_csvs",
    "read_contacts",
    "read_events",
    "read_owners",
    "validate_contacts",
    "validate_events",
    "validate_owners",
]
