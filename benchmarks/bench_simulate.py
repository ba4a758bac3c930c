"""Time the simulator at demo scale: 1,000 owners, 12 months, seed 0, plus writing the CSVs.

Run: .venv/bin/python benchmarks/bench_simulate.py [--owners N] [--out DIR]
The CSVs go to a temporary folder (or --out, which should be gitignored, e.g. data/).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from introrank.training.simulate import simulate_network, write_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    network = simulate_network(n_owners=args.owners, seed=args.seed)
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_network(network, args.out or Path(tmp))
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
    written = time.perf_counter()

    n_events = len(network.events)
    print(f"owners={len(network.owners)} contacts={len(network.contacts)} events={n_events} "
          f"oracle_rows={len(network.oracle)} csv_mb={size_mb:.0f}")
    print(f"simulate_s={simulated - started:.1f} write_s={written - simulated:.1f} "
          f"total_s={written - started:.1f} events_per_s={n_events / (written - started):,.0f}")


if __name__ == "__main__":
    main()
