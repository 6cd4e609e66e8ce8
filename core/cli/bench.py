"""``reasonrank bench DATASET``: throughput, latency percentiles, generated tokens and the
engine's share of the wall time, written as ``OUT/bench.json`` and ``OUT/bench.png``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reasonrank.cli.common import add_reranker_arguments, print_report, reranker_from_args
from reasonrank.cli.eval import (
    add_dataset_arguments,
    dataset_from_args,
    default_batch_size,
    depth_override,
    rerank_depth,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help="measure throughput, latency and library overhead on a dataset",
        description=__doc__,
    )
    add_dataset_arguments(parser, default_depth=20)
    parser.add_argument("--output", "-o", required=True, metavar="OUT_DIR",
                        help="folder for bench.json and bench.png")
    parser.add_argument("--warmup", type=int, default=1,
                        help="queries run before timing starts (default 1)")
    parser.add_argument("--json", action="store_true", help="print the report (bench.json) as one JSON document")
    add_reranker_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reasonrank.evaluate import EngineMeter, benchmark, plot_benchmark

    dataset = dataset_from_args(args)
    # Metered from the start; the reply cache off unless asked for (a benchmark measures engine work).
    no_cache = {} if getattr(args, "cache", None) is not None else {"cache": False}
    reranker = reranker_from_args(args, layers=[EngineMeter], **no_cache, **depth_override(args))
    try:
        report = benchmark(
            reranker, dataset,
            top_k=rerank_depth(args),
            limit_queries=args.limit_queries,
            batch_size=args.batch_size or default_batch_size(reranker),
            warmup=args.warmup,
            show_progress=not args.no_progress,
        )
    finally:
        reranker.engine.close()
    report["preset"] = args.preset
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_benchmark(report, out / "bench.png")
    return print_report(report, args.json, format_bench, f"{out}/bench.json and {out}/bench.png")


def format_bench(report: dict) -> str:
    """The one-line summary of a bench report."""
    lat = report["latency_seconds"]
    return (
        f"{report['num_queries']} queries, {report['num_passages']} passages in {report['total_seconds']:.2f}s: "
        f"{report['queries_per_second']:.3f} q/s, {report['passages_per_second']:.2f} passages/s; "
        f"latency p50 {lat['p50']:.2f}s p90 {lat['p90']:.2f}s p99 {lat['p99']:.2f}s; "
        f"{report['generated_tokens']} generated tokens; engine {report['engine_seconds']:.2f}s, "
        f"library overhead {100 * report['overhead_fraction']:.1f}%"
    )
