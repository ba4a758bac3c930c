"""How many threads LightGBM gets: always an explicit number, never the library's default.

LightGBM's OpenMP threads spin at every barrier of a tree's growth. When there
are more of them than idle CPUs (another process holds a core), each barrier
waits for a time slice: training 20 simulated owners took 7.5 minutes with the
default threads beside one busy process and 12 s with one thread. So the
default is the CPUs this process may use (its affinity mask, which containers
and ``taskset`` set) minus those the machine's run queue already keeps busy (the
1-minute load average), and at least one. Scoring a request's candidates is a
small matrix per request, run beside other requests: one thread.
"""

from __future__ import annotations

import os

SCORE_THREADS = 1


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; ``os.cpu_count`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def idle_cpus(cpus: int | None = None, load: float | None = None) -> int:
    """Usable CPUs minus the run queue's load (rounded), between 1 and ``cpus``."""
    cpus = usable_cpus() if cpus is None else cpus
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # pragma: no cover - no load average on this platform
            load = 0.0
    return max(1, min(cpus, cpus - int(load + 0.5)))
