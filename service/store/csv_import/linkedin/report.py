"""What a LinkedIn import read, skipped and stored, in counts only: safe to print and to log."""

from __future__ import annotations

from dataclasses import dataclass, field

from introrank.service.store.csv_import.linkedin.source import Source
from introrank.service.store.csv_import.report import ImportReport


@dataclass(frozen=True)
class SourceReport:
    file: str
    rows_read: int
    events: int
    skipped: dict[str, int]

    @classmethod
    def of(cls, source: Source) -> SourceReport:
        return cls(source.path.name, source.rows_read, len(source.events), dict(source.skipped))


@dataclass
class LinkedInReport:
    archive: str
    owner_from: str  # where the owner's profile URL came from (never the URL itself)
    store: ImportReport
    sources: list[SourceReport] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"read LinkedIn archive '{self.archive}' (your own messages known by: {self.owner_from})"]
        for s in self.sources:
            skipped = "".join(f", {n} skipped: {why}" for why, n in s.skipped.items())
            lines.append(f"  {s.file}: {s.rows_read} rows read, {s.events} events{skipped}")
        return "\n".join([*lines, self.store.summary()])
