"""SimulatedNetwork -> the CSV import format, rendered column-wise for speed.

Rendering is column-wise NumPy on fixed-width bytes: values stay NUL-padded until
a whole block of rows is joined, then the NULs (never part of CSV text) are dropped.
Blocks keep every temporary small enough for the allocator to recycle: touching
fresh memory is what costs most here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from introrank.model.constants import CONTACTS_CSV, EVENTS_CSV, ORACLE_CSV, OWNERS_CSV
from introrank.training.cuts import SECONDS_PER_DAY
from introrank.training.simulate.frames import SimulatedNetwork

_ROWS_PER_BLOCK = 200_000
_SAMPLE_ROWS = 10_000
_NEEDS_QUOTES = np.zeros(256, dtype=bool)
_NEEDS_QUOTES[list(b',"\n\r')] = True


def _side_by_side(parts: list[np.ndarray | bytes], n: int) -> np.ndarray:
    """Row-wise concatenation of fixed-width byte columns (bytes scalars repeat on every row)."""
    widths = [len(p) if isinstance(p, bytes) else p.dtype.itemsize for p in parts]
    rows = np.empty(n, dtype=[(f"f{i}", f"V{w}") for i, w in enumerate(widths) if w])
    for i, (part, width) in enumerate(zip(parts, widths, strict=True)):
        if width:
            rows[f"f{i}"] = np.void(part) if isinstance(part, bytes) else part.view(f"V{width}")
    return rows.view(f"S{rows.dtype.itemsize}") if rows.dtype.names else np.full(n, b"")


def _byte_matrix(text: np.ndarray) -> np.ndarray:
    """Fixed-width bytes as a (rows, width) uint8 matrix, NUL-padded."""
    text = np.ascontiguousarray(text, dtype=f"S{max(text.dtype.itemsize, 1)}")
    return text.view(np.uint8).reshape(len(text), text.dtype.itemsize)


def _quoted(text: np.ndarray) -> np.ndarray:
    """RFC 4180 quoting, only where a value needs it."""
    needs = _NEEDS_QUOTES[_byte_matrix(text)].any(axis=1)
    if not needs.any():
        return text
    escaped = np.strings.add(np.strings.add(b'"', np.strings.replace(text, b'"', b'""')), b'"')
    return np.where(needs, escaped, text)


@cache
def _times_of_day() -> np.ndarray:
    """"THH:MM:SS+00:00" for each of the 86,400 seconds of a day, formatted once."""
    clock = np.datetime_as_string(np.arange(SECONDS_PER_DAY).astype("datetime64[s]"), unit="s")
    return np.strings.add(np.strings.slice(clock.astype("S19"), 10, None), b"+00:00")


def _iso_utc(seconds: np.ndarray) -> np.ndarray:
    """ISO 8601 with a +00:00 offset from a few hundred formatted days and the time table."""
    day, second = np.divmod(seconds, SECONDS_PER_DAY)
    first = int(day.min(initial=0))
    span = np.arange(first, int(day.max(initial=first)) + 1).astype("datetime64[D]")
    days = np.datetime_as_string(span).astype("S10")
    return _side_by_side([days[day - first], _times_of_day()[second]], len(seconds))


def _fixed_point(values: np.ndarray, decimals: int = 6) -> np.ndarray:
    """Six decimals without per-value Python formatting (probabilities, mostly)."""
    scaled = np.rint(np.abs(values) * 10**decimals).astype(np.int64)
    whole, frac = np.divmod(scaled, 10**decimals)
    digits = _byte_matrix((frac + 10**decimals).astype(f"S{decimals + 1}"))[:, 1:]
    digits = np.ascontiguousarray(digits).view(f"S{decimals}").ravel()
    sign = np.where(values < 0, b"-", b"\x00")
    return _side_by_side([sign, whole.astype(bytes), b".", digits], len(values))


def _utf8(text: np.ndarray) -> np.ndarray:
    """ASCII takes numpy's C cast; only text with other characters pays for real encoding."""
    try:
        return text.astype(bytes)
    except UnicodeEncodeError:
        return np.array([value.encode("utf-8") for value in text], dtype=bytes)


def _text_bytes(series: pd.Series) -> np.ndarray:
    """Quoted UTF-8; repetitive text (ids, type names) is rendered once per distinct value."""
    sample = series.iloc[:_SAMPLE_ROWS]
    if sample.nunique() > len(sample) // 2:
        return _quoted(_utf8(series.to_numpy(dtype=object)))
    codes, distinct = pd.factorize(series)
    return _quoted(_utf8(np.asarray(distinct, dtype=object)))[codes]


def _column_text(series: pd.Series) -> np.ndarray:
    """One column as CSV bytes: unknown -> "", booleans lowercase, timestamps ISO UTC."""
    known = series.notna().to_numpy()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        seconds = series.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
        text = _iso_utc(np.where(known, seconds, 0))
    elif pd.api.types.is_bool_dtype(series.dtype):
        text = np.where(series.to_numpy(dtype=bool, na_value=False), b"true", b"false")
    elif pd.api.types.is_integer_dtype(series.dtype):
        text = series.to_numpy(dtype=np.int64, na_value=0).astype(bytes)
    elif pd.api.types.is_float_dtype(series.dtype):
        text = _fixed_point(series.to_numpy(dtype=np.float64, na_value=0.0))
    else:
        text = _text_bytes(series.fillna(""))
    return text if known.all() else np.where(known, text, b"")


def _csv_rows(frame: pd.DataFrame) -> bytes:
    parts: list[np.ndarray | bytes] = []
    for column in frame.columns:
        parts += [_column_text(frame[column]), b","]
    parts[-1] = b"\n"
    padded = _side_by_side(parts, len(frame)).view(np.uint8)
    return padded[padded != 0].tobytes()


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with path.open("wb") as out:
        out.write((",".join(map(str, frame.columns)) + "\n").encode())
        for start in range(0, len(frame), _ROWS_PER_BLOCK):
            out.write(_csv_rows(frame.iloc[start:start + _ROWS_PER_BLOCK]))


def write_network(network: SimulatedNetwork, out_dir: Path) -> list[Path]:
    """Write owners.csv, contacts.csv, events.csv and oracle.csv into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in ((OWNERS_CSV, network.owners), (CONTACTS_CSV, network.contacts),
                        (EVENTS_CSV, network.events), (ORACLE_CSV, network.oracle)):
        paths.append(out_dir / name)
        _write_csv(paths[-1], frame)
    return paths
