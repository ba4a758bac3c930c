"""What an import did, in counts only: safe to print and to log."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileReport:
    """What happened to one file's rows (no row content, so safe to log)."""

    file: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0


@dataclass
class ImportReport:
    tenant: str
    owners: FileReport | None = None
    contacts: FileReport | None = None
    events: FileReport | None = None
    seconds: float = field(default=0.0, compare=False)

    def files(self) -> list[FileReport]:
        return [r for r in (self.owners, self.contacts, self.events) if r is not None]

    def summary(self) -> str:
        """One line per file with counts only: never names or other row content."""
        lines = [f"imported into tenant '{self.tenant}' in {self.seconds:.2f} s"]
        for r in self.files():
            changed = "" if r is self.events else f", {r.updated} updated, {r.unchanged} unchanged"
            lines.append(
                f"  {r.file}: {r.rows_read} rows read, {r.inserted} inserted{changed}, {r.duplicates} duplicates"
            )
        return "\n".join(lines)
