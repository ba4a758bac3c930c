"""A batch of simulated events as integer codes, the currency of the weekly loop."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Events:
    """A batch of events as codes: pair index, epoch seconds, type, direction, useful."""

    pair: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    direction: np.ndarray
    useful: np.ndarray

    @classmethod
    def concat(cls, batches: list[Events]) -> Events:
        return cls(*(np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)))

    @classmethod
    def empty(cls) -> Events:
        return cls.of(*(np.empty(0),) * 4)

    @classmethod
    def of(cls, pair: np.ndarray, ts: np.ndarray, kind: np.ndarray, direction: np.ndarray,
           useful: np.ndarray | None = None) -> Events:
        useful = np.zeros(len(pair), np.int8) if useful is None else useful
        return cls(pair.astype(np.int32), ts.astype(np.int64), kind.astype(np.int8),
                   direction.astype(np.int8), useful.astype(np.int8))

    def take(self, rows: np.ndarray) -> Events:
        return Events(*(getattr(self, f.name)[rows] for f in fields(self)))

    def shifted(self, offset: int) -> Events:
        """The same events with pair indices of a chunk made global."""
        return Events(self.pair + offset, self.ts, self.kind, self.direction, self.useful)
