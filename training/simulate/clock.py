"""The week grid the simulation steps on, from a start date and a number of 30-day months."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from introrank.training.cuts import SECONDS_PER_DAY

WEEK_SECONDS = 7 * SECONDS_PER_DAY
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Clock:
    """Week grid of the simulation: week k covers [start + 7k days, start + 7(k+1) days)."""

    start: int
    end: int

    @property
    def n_weeks(self) -> int:
        return -(-(self.end - self.start) // WEEK_SECONDS)

    def week(self, k: int) -> tuple[int, int]:
        t0 = self.start + k * WEEK_SECONDS
        return t0, min(t0 + WEEK_SECONDS, self.end)


def simulation_span(start: str, months: int) -> Clock:
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    start_ts = int(stamp.timestamp())
    return Clock(start_ts, start_ts + months * DAYS_PER_MONTH * SECONDS_PER_DAY)
