"""The benchmark's results as the table ``bench_service.py`` prints (the ``--json`` file holds them all)."""

from __future__ import annotations


def table(results: dict) -> str:
    rec, after, tput, ing, ml = (results.get(k) for k in ("recommend", "recommend_after_load", "throughput",
                                                           "ingestion", "mlflow"))
    lines = [f"{'measurement':56s} {'value':>13s} {'server CPU':>12s}  target", "-" * 100]

    def row(name: str, value: float, unit: str, cpu: float | None = None, target: str = "") -> None:
        cpu_text = f"{cpu:8.1f} ms" if cpu is not None else ""
        lines.append(f"{name:56s} {value:>9.1f} {unit:3s} {cpu_text:>12s}  {target}")

    row("GET /healthz p50 (no auth, no database)", results["healthz"]["p50_ms"], "ms")
    row("GET /v1/model p50 (API-key lookup + JSON)", results["model_endpoint"]["p50_ms"], "ms")
    row(f"recommend k={results['args']['k']}, {rec['n']} sequential: p50", rec["p50_ms"], "ms",
        rec["server_cpu_ms_per_request"], "< 15 ms")
    row("recommend p90", rec["p90_ms"], "ms")
    row("recommend p99", rec["p99_ms"], "ms", None, "< 40 ms")
    row(f"throughput, {tput['threads']} client threads, {tput['seconds']:.0f} s", tput["req_per_s"], "r/s",
        tput["server_cpu_ms_per_request"], ">= 100 req/s")
    row("  latency under that load p50", tput["loaded_p50_ms"], "ms")
    row("  latency under that load p99", tput["loaded_p99_ms"], "ms")
    row(f"recommend after {after['served_lists_before']:,} lists logged: p50", after["p50_ms"], "ms",
        after["server_cpu_ms_per_request"])
    row("recommend after that p99", after["p99_ms"], "ms")
    cold = results.get("recommend_cold")
    if cold:
        row(f"recommend, score cache off, {cold['n']} sequential: p50", cold["p50_ms"], "ms",
            cold["server_cpu_ms_per_request"])
        row("recommend, score cache off, p99", cold["p99_ms"], "ms", None, "< 30 ms")
        for days, bt in cold.get("as_of", {}).items():
            row(f"backtest ?as_of=now-{days}: p50", bt["p50_ms"], "ms", bt["server_cpu_ms_per_request"])
            row(f"  ratio to the cold p50 (CPU ratio {bt['ratio_cpu_to_cold']:.2f})", bt["ratio_p50_to_cold"], "x",
                None, "<= 2")
    ordered = results.get("ingestion_in_order")
    if ordered:
        row(f"ingest {ordered['batches']} x {ordered['batch_size']} events in time order", ordered["events_per_s"],
            "e/s", ordered["server_cpu_ms_per_batch"], ">= 20,000 events/s")
        row("  per-batch p50", ordered["batch_p50_ms"], "ms")
    row(f"ingest {ing['batches']} x {ing['batch_size']} events over the last 30 days (late)", ing["events_per_s"],
        "e/s", ing["server_cpu_ms_per_batch"], ">= 20,000 events/s")
    row("  per-batch p50", ing["batch_p50_ms"], "ms")
    if ml:
        row(f"mlflow /invocations, {ml['rows']} rows, {ml['n']} sequential: p50", ml["p50_ms"], "ms",
            ml["server_cpu_ms_per_request"])
        row("mlflow /invocations p99", ml["p99_ms"], "ms")
        row("ratio introrank p50 / mlflow p50", results["ratio_p50"], "x", None, "<= 1")
        if "ratio_p50_cold" in results:
            row("ratio, score cache off", results["ratio_p50_cold"], "x", None, "<= 0.25")
    lines.append("(server CPU: the server process tree's user+system CPU per request / per batch)")
    if results.get("stages"):
        lines += ["", f"{'in-process stage (median of --profile calls)':56s} {'wall ms':>9s} {'cpu ms':>8s}",
                  "-" * 100]
        for name, v in results["stages"].items():
            lines.append(f"{name:56s} {v['wall_ms']:9.1f} {v['cpu_ms']:8.1f}" if "error" not in v
                         else f"{name:56s} error: {v['error'][:60]}")
    lines.append("")
    lines.append(f"tree: commit {results['tree']['commit']}, {results['tree']['changed_files']} files changed or "
                 f"untracked; started {results['started_utc']}")
    lines.append("load average (1/5/15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
        *results["load_average_before"], *results["load_average_after"]))
    return "\n".join(lines)
