"""Ray scale-out on one machine: ``rerank_dataset`` with 1 vs 2 replicas, side by side.

Same input (TREC DL19: every query of the BM25 run, top-20 passages, one listwise window of 20
per query), same Ray cluster (started once), the two replica counts alternated ``--repeats``
times; each run writes a fresh output folder and its wall time includes starting the replicas
(building their engines), as a user's run does. Two engines:

  scripted  the scripted listwise "model" (reasonrank.testing.ray_factories) with a blocking
            sleep of ``--sleep`` seconds per engine call: an engine that serves one call at a
            time, so only replicas add throughput (the ideal ratio is 2.0);
  tiny      the tiny random Qwen2 model (reasonrank.testing.tiny_model) on the transformers engine, really
            generating ``--budget`` reasoning tokens per window on the CPU; Ray gives each
            replica ``OMP_NUM_THREADS`` = its CPUs (1), so 2 replicas use both cores.

Also measured in the same run: the same queries through ``rerank_batch`` in this process (no
Ray), the baseline Ray's cost is measured against. Run:

    .venv/bin/python benchmarks/distributed/ray_replicas.py --repeats 2

Writes benchmarks/distributed/results/ray_replicas.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from reasonrank.distributed import RayOptions, RerankerSpec, rerank_dataset
from reasonrank.distributed.rows import parse_row, scan_input
from reasonrank.testing.ray_factories import ScriptedFactory

RESULTS = Path(__file__).resolve().parent / "results"

from reasonrank.testing.bench_inputs import DL19


def factories(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if "scripted" in args.engines:
        out["scripted"] = ScriptedFactory(sleep=args.sleep, window_size=20, stride=10)
    if "tiny" in args.engines:
        from reasonrank.testing.tiny_model import tiny_model_dir

        out["tiny"] = RerankerSpec(
            method="listwise", engine="transformers", model=str(tiny_model_dir()),
            engine_options={"device": "cpu", "dtype": "float32"},
            method_options={"reasoning_budget": args.budget, "window_size": 20, "stride": 10},
            on_error="keep_order", cache=False,  # timed: engine work, not cache hits
        )
    return out


def in_process(factory, source: Path, top_k: int, limit: int | None) -> float:
    """Seconds for the same queries through rerank_batch in this process (engine build included)."""
    src = scan_input(source, top_k=top_k, limit_queries=limit)
    pairs = [parse_row(r, "bench") for r in src.rows or []]
    start = time.perf_counter()
    reranker = factory()
    try:
        reranker.rerank_batch(pairs)
    finally:
        reranker.engine.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DL19)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--limit-queries", type=int, default=None)
    parser.add_argument("--engines", nargs="+", default=["scripted", "tiny"], choices=["scripted", "tiny"])
    parser.add_argument("--sleep", type=float, default=0.25, help="scripted engine: seconds per call")
    parser.add_argument("--budget", type=int, default=32, help="tiny model: reasoning tokens per window")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "ray_replicas.json")
    args = parser.parse_args()

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t0 = time.perf_counter()
    # One logical CPU beyond the cores: two 1-CPU replicas plus Ray Data's input tasks.
    # Replicas import the test factories from the installed reasonrank.testing: no PYTHONPATH.
    ray.init(num_cpus=(os.cpu_count() or 2) + 1, include_dashboard=False, logging_level="WARNING",
             log_to_driver=False)
    ray_start = time.perf_counter() - t0
    n_queries = len(scan_input(args.data, top_k=args.top_k, limit_queries=args.limit_queries).query_ids)
    report: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
                   f"load {os.getloadavg()[0]:.1f} at start",
        "dataset": str(args.data), "queries": n_queries, "top_k": args.top_k,
        "batch_size": args.batch_size, "repeats": args.repeats, "ray_init_seconds": ray_start,
        "engines": {},
    }
    work = Path(tempfile.mkdtemp(prefix="ray-replicas-"))
    try:
        for name, factory in factories(args).items():
            walls: dict[int, list[float]] = {1: [], 2: []}
            loads: dict[int, list[dict]] = {1: [], 2: []}
            windows = 0
            for rep in range(args.repeats):
                for replicas in (1, 2):
                    out = work / f"{name}-{replicas}-{rep}"
                    summary = rerank_dataset(
                        args.data, out, factory, top_k=args.top_k, limit_queries=args.limit_queries,
                        ray_options=RayOptions(replicas=replicas, cpus_per_replica=1.0,
                                               batch_size=args.batch_size),
                        show_progress=False,
                    )
                    assert summary["all"]["queries"] == n_queries and not summary["missing"]
                    walls[replicas].append(summary["wall_seconds"])
                    loads[replicas].append(summary["replicas_load"])
                    windows = summary["this_run"]["windows"]
                    load = summary["replicas_load"]
                    print(f"{name}: {replicas} replica(s), run {rep + 1}: {summary['wall_seconds']:.1f}s, "
                          f"first result after {load['first_result_seconds']:.1f}s, replicas busy "
                          f"{load['busy_seconds']:.1f}s (load {os.getloadavg()[0]:.1f})", flush=True)
            local = in_process(factory, args.data, args.top_k, args.limit_queries)
            one, two = statistics.median(walls[1]), statistics.median(walls[2])
            # After the first result: the replicas are up, what remains is reranking + streaming.
            steady = {k: statistics.median(w - ld["first_result_seconds"] for w, ld in zip(walls[k], loads[k]))
                      for k in (1, 2)}
            report["engines"][name] = {
                "wall_seconds": {"1": walls[1], "2": walls[2]},
                "replicas_load": {"1": loads[1], "2": loads[2]},
                "median_seconds": {"1": one, "2": two},
                "speedup_2_over_1": one / two,
                "after_first_result_seconds": {"1": steady[1], "2": steady[2]},
                "speedup_2_over_1_after_first_result": steady[1] / steady[2],
                "in_process_seconds": local,
                "ray_1_replica_over_in_process": one / local,
                "windows": windows,
                "engine_seconds_serial": windows * args.sleep if name == "scripted" else None,
            }
            print(f"{name}: 1 replica {one:.1f}s, 2 replicas {two:.1f}s -> {one / two:.2f}x; "
                  f"in process {local:.1f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ray.shutdown()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
