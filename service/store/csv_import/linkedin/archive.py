"""The archive's files: found in a folder or in the downloaded ZIP, each read into lines-numbered cells.

LinkedIn names files inconsistently across export generations (``messages.csv``
and ``Messages.csv``, ``Endorsement_Received_Info.csv`` and ``Endorsement
Received Info.csv``) and the ZIP may hold them in a subfolder, so a file is found
by its name with case, spaces and underscores ignored. ``Connections.csv`` starts
with a "Notes:" preamble: the header is found by its first column, and the rows'
index stays the file's own line number, so an error names the line a person
sees in an editor.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from introrank.service.store.csv_import.checks import CsvImportError
from introrank.service.store.csv_import.read import parse_csv


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "", name.lower())


@dataclass(frozen=True)
class Archive:
    """Where the files are: a folder, or the ZIP LinkedIn sends (``files``: normalised name -> member)."""

    path: Path
    files: dict[str, str]

    @classmethod
    def open(cls, path: Path) -> Archive:
        path = Path(path)
        if path.is_dir():
            names = [p.name for p in path.iterdir() if p.is_file()]
            return cls(path, {_key(n): n for n in sorted(names)})
        if path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
            return cls(path, {_key(PurePosixPath(m).name): m for m in sorted(members, key=len, reverse=True)})
        raise CsvImportError(path, 0, "", "not a folder or ZIP file of a LinkedIn data export "
                             "(Settings > Data privacy > Get a copy of your data)")

    def display(self, name: str) -> Path:
        """The path errors and the report name: the member's own name."""
        return Path(PurePosixPath(self.files.get(_key(name), name)).name)

    def read_bytes(self, name: str) -> bytes | None:
        member = self.files.get(_key(name))
        if member is None:
            return None
        try:
            if self.path.is_dir():
                return (self.path / member).read_bytes()
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(member)
        except (OSError, zipfile.BadZipFile) as exc:
            raise CsvImportError(self.display(name), 0, "", f"cannot read file ({exc})") from exc


def read_table(archive: Archive, name: str, required: tuple[str, ...], first: str | None = None,
               optional: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """The file's cells (stripped strings, index = line), or None when absent.

    Headers match whatever their case or surrounding spaces, and come back spelled as
    ``required`` and ``optional`` spell them, so errors name LinkedIn's own columns.

    ``first``: the header's first column, for a file with a preamble before its
    header. Only ``required`` and ``optional`` columns are kept, so free text the
    product never stores (message bodies, invitation notes, recommendation texts)
    leaves memory with the frame it was parsed in.
    """
    data = archive.read_bytes(name)
    if data is None:
        return None
    path = archive.display(name)
    skipped = _preamble_lines(path, data, first) if first else 0
    if skipped:
        data = b"\n".join(data.split(b"\n")[skipped:])
    frame = parse_csv(path, data, skipped)
    for column in required:
        if column.lower() not in frame.columns:
            raise CsvImportError(path, 1 + skipped, column, "required column is missing from the header")
    keep = {c.lower(): c for c in (*required, *optional) if c.lower() in frame.columns}
    return frame[list(keep)].rename(columns=keep)


def _preamble_lines(path: Path, data: bytes, first: str) -> int:
    """How many lines come before the header (the line that starts with ``first``)."""
    lines = data.decode("utf-8-sig", errors="replace").split("\n")
    for number, line in enumerate(lines[:50]):
        if line.strip().strip('"').lower().startswith(first.lower()):
            return number
    raise CsvImportError(path, 0, first, f"no header line starting with '{first}' in the first 50 lines")
