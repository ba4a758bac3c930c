"""Real-data check: introrank on SNAP's CollegeMsg message log (UC Irvine, April-October 2004).

Plain script, not a test:

    .venv/bin/python benchmarks/collegemsg.py [--horizon-days 14] [--cut-every-days 7] [--rolling 8] [--json]

It converts the log (``Source,Target,Timestamp``) to introrank's three CSVs,
builds point-in-time snapshots with the outcome "the contact writes to the
owner within the horizon" (``--positive message:in``), trains the ranker through
the library (no subprocess, no MLflow) and compares it on the last (test) cut
with the naive rankers: most recent, most frequent in 90 days and the
exponentially decayed count (``warmest``; every event is a message, so the
type weights are all 1). It exits 1 when the model does not beat the best naive
ranker on NDCG@10, so it is an honest check, not a demo.

The CSVs go to ``--out`` (default ``benchmarks/out/collegemsg``, gitignored), so
``introrank evaluate --data benchmarks/out/collegemsg --positive message:in
--horizon-days 14 --cut-every-days 7`` reproduces the run through the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/collegemsg.py` from anywhere
    sys.path.insert(0, str(REPO))

from introrank.model.constants import (  # noqa: E402
    CAREER_STAGE,
    CAREER_SUPPORT,
    COMPANY,
    CONTACT_ID,
    CONTACTS_CSV,
    DIRECTION,
    EVENT_ID,
    EVENTS_CSV,
    GOAL,
    IN,
    INDUSTRY,
    MESSAGE,
    OCCURRED_AT,
    OUT,
    OWNER_ID,
    OWNERS_CSV,
    TITLE,
    TYPE,
)
from introrank.model.dataset import Dataset  # noqa: E402
from introrank.training.evaluate import LOGISTIC, MODEL, evaluate, ranker_scores  # noqa: E402
from introrank.training.metrics import ndcg_at_k  # noqa: E402
from introrank.training.snapshots import CUT, LABEL, SnapshotConfig, build_snapshots, parse_positive  # noqa: E402
from introrank.training.train import TrainConfig, query_ids, train_ranker  # noqa: E402

# The log ships in benchmarks/data (a clone anywhere runs it, no download); the same file in the
# shared data folder next to the checkout is only a fallback for trees that lack it.
_DATA_CANDIDATES = [REPO / "benchmarks/data/collegemsg.csv.gz",
                    *(base / "shared/data/collegemsg.csv.gz" for base in (REPO.parent, REPO.parent.parent))]
DEFAULT_DATA = next((p for p in _DATA_CANDIDATES if p.exists()), _DATA_CANDIDATES[0])
DEFAULT_OUT = REPO / "benchmarks/out/collegemsg"
# Two weeks ahead, a fresh list every week: the log is ~6 months long, so this
# gives ~21 cuts with 30+ days of history and a fully observed label window.
DEFAULT_HORIZON_DAYS = 14
DEFAULT_CUT_EVERY_DAYS = 7
POSITIVE = "message:in"
NAIVE = ("most_recent", "most_frequent_90d", "warmest")
REPORTED = (MODEL, LOGISTIC, *NAIVE)
# The log's times look like "4/15/04 2:56 PM" (month/day/two-digit year, 12-hour clock).
TIME_FORMAT = "%m/%d/%y %I:%M %p"
SOURCE, TARGET, TIMESTAMP = "Source", "Target", "Timestamp"
BOOTSTRAP_SAMPLES = 2000


# --- conversion ---------------------------------------------------------------


def read_log(path: Path) -> pd.DataFrame:
    """The raw log as strings; ``Source,Target,Timestamp`` (gzip inferred from the name)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (SOURCE, TARGET, TIMESTAMP) if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected Source,Target,Timestamp")
    return raw


def parse_times(values: pd.Series) -> np.ndarray:
    """``4/15/04 2:56 PM`` to epoch seconds.

    The log carries no time zone (the community was at UC Irvine, so the clock
    was probably Pacific time); we treat every time as UTC. A constant shift
    changes no ordering and no gap, and hence no feature or label, only where
    the weekly cut grid falls relative to local midnight.
    """
    parsed = pd.to_datetime(values, format=TIME_FORMAT, utc=True)  # raises on any other shape
    return ((parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(np.float64)


def convert(raw: pd.DataFrame) -> Dataset:
    """One log -> introrank's owners, contacts and events (occurred_at as UTC epoch seconds).

    Every message (0-based data row r, sender s, receiver t) becomes two events:
    ``m{r}-out`` (owner s, contact t, out) and ``m{r}-in`` (owner t, contact s,
    in). Everyone who sent or received a message is an owner with unknown stage
    and industry and the goal career_support; the contacts are every (owner,
    counterpart) pair that occurs, with unknown attributes.
    """
    source, target = raw[SOURCE].astype(str).str.strip(), raw[TARGET].astype(str).str.strip()
    ts = parse_times(raw[TIMESTAMP].astype(str).str.strip())
    row = np.arange(len(raw)).astype(str)
    out_events = pd.DataFrame({EVENT_ID: np.char.add(np.char.add("m", row), "-out"),
                               OWNER_ID: source.to_numpy(), CONTACT_ID: target.to_numpy(),
                               OCCURRED_AT: ts, TYPE: MESSAGE, DIRECTION: OUT})
    in_events = pd.DataFrame({EVENT_ID: np.char.add(np.char.add("m", row), "-in"),
                              OWNER_ID: target.to_numpy(), CONTACT_ID: source.to_numpy(),
                              OCCURRED_AT: ts, TYPE: MESSAGE, DIRECTION: IN})
    # Interleave so the file reads m0-out, m0-in, m1-out, ... (deterministic order).
    events = pd.concat([out_events, in_events]).sort_index(kind="mergesort").reset_index(drop=True)
    people = sorted(set(source) | set(target), key=_natural)
    owners = pd.DataFrame({OWNER_ID: people, CAREER_STAGE: "", INDUSTRY: "", GOAL: CAREER_SUPPORT})
    pairs = events[[OWNER_ID, CONTACT_ID]].drop_duplicates()
    pairs = pairs.assign(_o=pairs[OWNER_ID].map(_natural), _c=pairs[CONTACT_ID].map(_natural))
    pairs = pairs.sort_values(["_o", "_c"]).drop(columns=["_o", "_c"]).reset_index(drop=True)
    contacts = pairs.assign(**{COMPANY: "", INDUSTRY: "", TITLE: "", CAREER_STAGE: ""})
    return Dataset(owners, contacts, events)


def _natural(text: str) -> tuple[int, str]:
    """Sort numeric ids as numbers ("2" before "10"), anything else after them."""
    return (int(text), "") if text.isdigit() else (sys.maxsize, text)


def write_csvs(dataset: Dataset, folder: Path) -> None:
    """The three CSVs in introrank's import format (times ISO 8601 with +00:00)."""
    folder.mkdir(parents=True, exist_ok=True)
    dataset.owners.to_csv(folder / OWNERS_CSV, index=False)
    dataset.contacts.to_csv(folder / CONTACTS_CSV, index=False)
    stamps = pd.to_datetime(dataset.events[OCCURRED_AT], unit="s", utc=True)
    events = dataset.events.assign(**{OCCURRED_AT: stamps.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")})
    events.to_csv(folder / EVENTS_CSV, index=False)


# --- benchmark ----------------------------------------------------------------


def run_benchmark(data: Path = DEFAULT_DATA, horizon_days: int = DEFAULT_HORIZON_DAYS,
                  cut_every_days: int = DEFAULT_CUT_EVERY_DAYS, out: Path | None = None,
                  num_threads: int | None = None, rolling: int = 0) -> dict[str, object]:
    """Convert, snapshot, train, evaluate (and ``rolling`` folds); the figures as a JSON-ready dict."""
    started = time.perf_counter()
    dataset = convert(read_log(data))
    if out is not None:
        write_csvs(dataset, out)
    converted = time.perf_counter()
    config = SnapshotConfig(cut_every_days=cut_every_days, horizon_days=horizon_days,
                            positive=parse_positive(POSITIVE))
    snapshots = build_snapshots(dataset.events, dataset.owners, dataset.contacts, config)
    snapshotted = time.perf_counter()
    with warnings.catch_warnings():
        # Stage, industry and the other profile columns are unknown for everyone here, so
        # the logistic regression's imputer drops them; say nothing about it on every run.
        warnings.filterwarnings("ignore", message="Skipping features without any observed values")
        train_config = (TrainConfig(horizon_days=horizon_days) if num_threads is None
                        else TrainConfig(horizon_days=horizon_days, num_threads=num_threads))  # frozen: set at birth
        result = train_ranker(snapshots, train_config)
        table = evaluate(result)
        margins = paired_margins(result)
        rolled = rolling_evaluation(snapshots, rolling, train_config) if rolling else None
    finished = time.perf_counter()

    test = result.split.test
    queries = test.groupby([OWNER_ID, CUT])[LABEL].max()
    split = result.split.describe()
    metrics = {name: {m: float(table.loc[name, m]) for m in ("ndcg_at_5", "ndcg_at_10", "recall_at_10", "map")}
               for name in REPORTED}
    best_naive = max(NAIVE, key=lambda n: metrics[n]["ndcg_at_10"])
    return {
        "data": str(data),
        "positive": POSITIVE,
        "horizon_days": horizon_days,
        "cut_every_days": cut_every_days,
        "messages": len(dataset.events) // 2,
        "events": len(dataset.events),
        "owners": len(dataset.owners),
        "contacts": len(dataset.contacts),
        "cuts": {name: [_iso(c) for c in cuts] for name, cuts in split.items()},
        "snapshot_rows": len(snapshots),
        "snapshot_positive_rate": float(snapshots[LABEL].mean()),
        "train_rows": len(result.split.train),
        "test": {
            "owners": int(test[OWNER_ID].nunique()),
            "queries": len(queries),
            "queries_with_positive": int(queries.sum()),
            "candidates": len(test),
            "positives": int(test[LABEL].sum()),
            "positive_rate": float(test[LABEL].mean()),
        },
        "objective": result.ranker.objective,
        "best_iteration": result.ranker.info.get("best_iteration"),
        "prior_strength": result.ranker.prior_strength,
        "validation_ndcg_at_10": {k: float(v) for k, v in result.ranker.info["validation_grid"].items()},
        "metrics": metrics,
        "best_naive": best_naive,
        "model_beats_naive": metrics[MODEL]["ndcg_at_10"] > metrics[best_naive]["ndcg_at_10"],
        "model_minus_naive_ndcg_at_10": margins,
        "model_beats_naive_lower_bound": margins[best_naive]["ci95_low"] > 0,
        **({"rolling": rolled} if rolled is not None else {}),
        "seconds": {"convert": round(converted - started, 2), "snapshots": round(snapshotted - converted, 2),
                    "train_and_evaluate": round(finished - snapshotted, 2), "total": round(finished - started, 2)},
    }


def rolling_evaluation(snapshots: pd.DataFrame, folds: int, train_config: TrainConfig) -> dict[str, object]:
    """The same training and choice on each of the last ``folds`` cuts as the test cut.

    Fold k keeps the snapshots up to its test cut, so ``train_ranker`` validates on
    the cut before it and trains on the cuts whose horizon ends before that, exactly
    as for the final cut. One cut's margin is noise (dozens of queries); a model that
    is really better wins on most folds.
    """
    cuts = np.sort(snapshots[CUT].unique())
    rows = []
    for test_cut in cuts[-folds:]:
        result = train_ranker(snapshots[snapshots[CUT] <= test_cut], train_config)
        table = evaluate(result)
        ndcg = {name: float(table.loc[name, "ndcg_at_10"]) for name in (MODEL, *NAIVE)}
        best = max(NAIVE, key=ndcg.__getitem__)
        margin = paired_margins(result)[best]
        queries = result.split.test.groupby([OWNER_ID, CUT])[LABEL].max()
        rows.append({"test_cut": _iso(test_cut), "queries_with_positive": int(queries.sum()),
                     "objective": result.ranker.objective, "prior_strength": result.ranker.prior_strength,
                     "model": ndcg[MODEL], "best_naive": best, "best_naive_ndcg_at_10": ndcg[best],
                     "naive_ndcg_at_10": {n: ndcg[n] for n in NAIVE}, "model_minus_best_naive": margin,
                     "model_wins": ndcg[MODEL] > ndcg[best]})
    return {"folds": rows, "wins": sum(r["model_wins"] for r in rows), "of": len(rows),
            "mean_model": float(np.mean([r["model"] for r in rows])),
            "mean_best_naive": float(np.mean([r["best_naive_ndcg_at_10"] for r in rows]))}


def format_rolling(rolling: dict[str, object]) -> str:
    lines = ["", f"rolling evaluation, the last {rolling['of']} cuts as test (validation: the cut before each)",
             f"{'test cut':<12}{'queries+':>9}{'chosen':>22}{'model':>9}{'best naive':>20}{'diff':>9}"
             f"{'95% bootstrap':>22}"]
    for r in rolling["folds"]:
        m = r["model_minus_best_naive"]
        chosen = f"{r['objective']}@{r['prior_strength']:g}"
        lines.append(f"{r['test_cut']:<12}{r['queries_with_positive']:>9}{chosen:>22}{r['model']:>9.4f}"
                     f"{r['best_naive'] + ' ' + format(r['best_naive_ndcg_at_10'], '.4f'):>20}{m['mean']:>+9.4f}"
                     f"{m['ci95_low']:>+11.4f} .. {m['ci95_high']:+.4f}")
    lines.append(f"model wins {rolling['wins']} of {rolling['of']}; mean model {rolling['mean_model']:.4f}, "
                 f"mean best naive {rolling['mean_best_naive']:.4f}")
    return "\n".join(lines)


def paired_margins(result, seed: int = 0) -> dict[str, dict[str, float]]:  # noqa: ANN001
    """Model minus each naive ranker in NDCG@10 on the test queries, with a 95% bootstrap interval.

    The test cut has only some dozens of queries with a positive, so the
    interval (queries resampled with replacement, paired) says how much of a
    margin is noise.
    """
    test = result.split.test
    scores = ranker_scores(result, test, None)
    q, y = query_ids(test), test[LABEL].to_numpy()
    has_positive = np.bincount(q, weights=y) > 0
    per_query = {}
    for name in (MODEL, *NAIVE):
        score = scores[name][0]
        per_query[name] = np.array([ndcg_at_k(q[q == k], y[q == k], score[q == k], 10)
                                    for k in np.flatnonzero(has_positive)])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(per_query[MODEL]), (BOOTSTRAP_SAMPLES, len(per_query[MODEL])))
    out = {}
    for name in NAIVE:
        diff = per_query[MODEL] - per_query[name]
        low, high = np.percentile(diff[draws].mean(axis=1), [2.5, 97.5])
        out[name] = {"mean": float(diff.mean()), "ci95_low": float(low), "ci95_high": float(high)}
    return out


def _iso(epoch: float) -> str:
    return pd.Timestamp(float(epoch), unit="s", tz="UTC").strftime("%Y-%m-%d")


def format_report(report: dict[str, object]) -> str:
    test, cuts, secs = report["test"], report["cuts"], report["seconds"]
    lines = [
        f"CollegeMsg: {report['messages']:,} messages -> {report['events']:,} events, "
        f"{report['owners']:,} owners, {report['contacts']:,} contacts",
        f"positive {report['positive']}, horizon {report['horizon_days']} d, cuts every "
        f"{report['cut_every_days']} d: {len(cuts['train_cuts'])} train cuts "
        f"({cuts['train_cuts'][0]}..{cuts['train_cuts'][-1]}), validation {cuts['val_cuts'][0]}, "
        f"test {cuts['test_cuts'][0]}",
        f"snapshots: {report['snapshot_rows']:,} rows, positive rate {report['snapshot_positive_rate']:.4f}",
        f"test cut: {test['owners']:,} owners, {test['queries']:,} queries "
        f"({test['queries_with_positive']:,} with a positive), {test['candidates']:,} candidates, "
        f"positive rate {test['positive_rate']:.4f}",
        f"chosen on validation: {report['objective']}, recency prior strength {report['prior_strength']:g} "
        f"(best iteration {report['best_iteration']})",
        "",
        f"{'ranker':<22}{'NDCG@10':>9}{'NDCG@5':>9}{'recall@10':>11}{'MAP':>9}",
    ]
    for name, m in report["metrics"].items():
        lines.append(f"{name:<22}{m['ndcg_at_10']:>9.4f}{m['ndcg_at_5']:>9.4f}"
                     f"{m['recall_at_10']:>11.4f}{m['map']:>9.4f}")
    lines.append("")
    for name, m in report["model_minus_naive_ndcg_at_10"].items():
        lines.append(f"model - {name:<18} NDCG@10 {m['mean']:+.4f}  "
                     f"(95% bootstrap over test queries {m['ci95_low']:+.4f} .. {m['ci95_high']:+.4f})")
    verdict = "beats" if report["model_beats_naive"] else "does NOT beat"
    lines += ["", f"model {verdict} the best naive ranker ({report['best_naive']}) on NDCG@10",
              f"wall time {secs['total']:.1f}s (convert {secs['convert']:.1f}s, snapshots "
              f"{secs['snapshots']:.1f}s, train+evaluate {secs['train_and_evaluate']:.1f}s)"]
    if "rolling" in report:
        lines.append(format_rolling(report["rolling"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the CollegeMsg CSV (.gz)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for the converted introrank CSVs (gitignored by default)")
    parser.add_argument("--horizon-days", type=int, default=DEFAULT_HORIZON_DAYS, help="label horizon H")
    parser.add_argument("--cut-every-days", type=int, default=DEFAULT_CUT_EVERY_DAYS,
                        help="days between snapshot cuts")
    parser.add_argument("--threads", type=int, default=None,
                        help="LightGBM threads (default: the idle CPUs, introrank.model.threads.idle_cpus)")
    parser.add_argument("--rolling", type=int, default=0, metavar="N",
                        help="also evaluate with each of the last N cuts as the test cut (e.g. 8)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} not found (pass --data)")
    report = run_benchmark(args.data, args.horizon_days, args.cut_every_days, args.out, args.threads, args.rolling)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["model_beats_naive"] else 1


if __name__ == "__main__":
    sys.exit(main())
