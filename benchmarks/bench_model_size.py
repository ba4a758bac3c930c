"""What the model's size costs in quality, and what it saves in scoring and explaining (issue 13 item 1).

Plain script, not a test:

    .venv/bin/python benchmarks/bench_model_size.py --owners 300 --seed 7 --leaves 31 15 7

Simulates the network as ``bench_training.py`` does, builds the snapshots once, then
for each ``num_leaves`` grows the binary booster without a recency prior (what
validation picks on the simulated seeds) with ``introrank.training.train.fit_lightgbm``:
early stopping on the validation cut picks the tree count (cap ``--max-trees``).
Per size it prints validation NDCG@10 (what a choice may look at), the test cut's
share of the oracle's NDCG@10, trees, leaves, fit CPU seconds, and the median time
to score 2,000 rows and to explain 10 rows (TreeSHAP) on one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np

from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.training.evaluate import attach_oracle
from introrank.training.metrics import ndcg_at_k
from introrank.training.snapshots import LABEL, SnapshotConfig, build_snapshots
from introrank.training.train import TrainConfig, fit_lightgbm, query_ids, split_by_time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_training import simulated  # noqa: E402  (the same simulated network)


def median_ms(run: object, repeats: int = 21) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return round(1000 * float(np.median(times)), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--leaves", type=int, nargs="+", default=[31, 15, 7])
    parser.add_argument("--max-trees", type=int, default=TrainConfig().n_estimators)
    args = parser.parse_args()
    data, _ = simulated(args.owners, args.seed)
    snapshots = build_snapshots(data.events, data.owners, data.contacts, SnapshotConfig())
    base = TrainConfig(num_threads=1, n_estimators=args.max_trees)
    split = split_by_time(snapshots, base)
    test, val = split.test, split.val
    oracle = attach_oracle(test, data.oracle)
    assert oracle is not None, "the simulated oracle covers every test row"
    tq, ty = query_ids(test), test[LABEL].to_numpy()
    oracle_ndcg = ndcg_at_k(tq, ty, oracle.to_numpy(), 10)
    x_val, x_test = (frame[list(FEATURE_NAMES)].to_numpy(np.float64) for frame in (val, test))
    rows, shown = x_test[:2000], x_test[:10]
    out = []
    for leaves in args.leaves:
        config = replace(base, num_leaves=leaves)
        cpu = time.process_time()
        booster = fit_lightgbm(split, "binary", config, 0.0)
        cpu = time.process_time() - cpu
        ranker = IntroRanker(booster=booster, calibrator=None, objective="binary", info={}, num_threads=1)
        out.append({
            "num_leaves": leaves, "trees": booster.num_trees(), "cpu_seconds_fit": round(cpu, 1),
            "validation_ndcg_at_10": round(ndcg_at_k(query_ids(val), val[LABEL].to_numpy(),
                                                     ranker.raw_score(x_val), 10), 4),
            "test_share_of_oracle": round(ndcg_at_k(tq, ty, ranker.raw_score(x_test), 10) / oracle_ndcg, 4),
            "score_2000_rows_ms": median_ms(lambda r=ranker: r.raw_score(rows)),
            "explain_10_rows_ms": median_ms(lambda r=ranker: r.contributions(shown)),
        })
        print(json.dumps(out[-1]), flush=True)
    load = open("/proc/loadavg").read().split()[:3]
    print(json.dumps({"owners": args.owners, "seed": args.seed, "load_average": load,
                      "sizes": out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
