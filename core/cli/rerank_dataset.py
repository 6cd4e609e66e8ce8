"""``reasonrank rerank-dataset INPUT --output OUT``: rerank many queries on a Ray cluster.

INPUT is a dataset folder or benchmark name as ``reasonrank eval`` reads (each query's
first-stage top-K), or a JSONL/Parquet file of ``{query_id, query, candidates: [{id, text, title?, score?}]}`` rows.
Each replica (a Ray actor) builds one reranker from the usual --method/--preset/--engine/--model/
--base-url options and reranks batches of queries streamed to it by Ray Data. Results are
appended to ``OUT/shards/results-NNNNN.jsonl`` (the ``results.jsonl`` schema of ``reasonrank
eval``) as they stream; at the end ``OUT/run.reranked.trec`` and ``OUT/summary.json`` are
written. Rerunning the same command skips queries already in OUT; a replica that dies has its
queries retried. Without --ray-address a local Ray instance is started on this machine.
"""
from __future__ import annotations

import argparse
import contextlib
import sys

from reasonrank.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rerank-dataset", help="rerank a dataset folder or JSONL/Parquet of queries on Ray (one machine or a cluster)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="INPUT",
                        help="dataset folder or benchmark name (as `reasonrank eval`), or a .jsonl / "
                        ".parquet file of {query_id, query, candidates} rows")
    parser.add_argument("--output", "-o", required=True, metavar="OUT_DIR",
                        help="output folder (resumes if it holds results of the same settings)")
    parser.add_argument("--run", default=None, metavar="FILE",
                        help="first-stage TREC run of a dataset folder (default: run.bm25.trec)")
    common.add_depth_argument(parser, default=None,
                              help="rerank each query's first K candidates (its candidates per query; default: "
                              "a dataset folder's top 100, all of a row's candidates)")
    parser.add_argument("--limit-queries", type=int, default=None, metavar="N", help="only the first N queries")
    ray_group = parser.add_argument_group("ray")
    ray_group.add_argument("--ray-address", default=None, metavar="ADDR",
                           help="Ray cluster to join, e.g. 'auto' or ray://head:10001 (default: start a local one)")
    ray_group.add_argument("--replicas", type=int, default=1, metavar="N",
                           help="reranker replicas (Ray actors), each with its own engine (default 1)")
    ray_group.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="G",
                           help="GPUs each replica reserves (e.g. 2 with tensor_parallel_size 2; default 0)")
    ray_group.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="C",
                           help="CPUs each replica reserves (default 1; 0.25 for thin clients of a served fleet)")
    ray_group.add_argument("--batch-size", type=int, default=8, metavar="B",
                           help="queries per batch handed to a replica's rerank_batch (default 8)")
    ray_group.add_argument("--max-restarts", type=int, default=3, metavar="R",
                           help="restarts of a replica that dies before the job fails (default 3; -1 unbounded)")
    ray_group.add_argument("--shard-size", type=int, default=10_000, metavar="Q",
                           help="queries per output shard file (default 10000)")
    ray_group.add_argument("--runtime-env", default=None, metavar="JSON",
                           help='Ray runtime_env for the job, e.g. \'{"pip": ["reasonrank[vllm]"]}\'')
    common.add_reranker_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def checked_spec(args: argparse.Namespace):
    """The :class:`RerankerSpec` the shared reranker options describe, checked on the driver (an
    unknown preset or method fails before Ray starts)."""
    spec = common.spec_from_args(args)
    spec.resolved_preset()
    return spec


def format_summary(summary: dict) -> str:
    """The end-of-run lines: queries, windows, tokens, fallbacks, wall time."""
    new, alls = summary["this_run"], summary["all"]
    lines = [
        (f"queries: {alls['queries']} of {summary['queries_total']} in {summary['output']} "
         f"({new['queries']} reranked now, {summary['queries_skipped']} already done)"),
        (f"this run: {new['windows']} windows, {new['prompt_tokens']} prompt + "
         f"{new['completion_tokens']} completion tokens, {new['fallbacks']} fallbacks, "
         f"{new['queries_with_warnings']} queries with warnings"),
        (f"wall time: {summary['wall_seconds']:.1f}s on {summary['replicas']} replica(s) "
         f"({summary['queries_per_second']:.2f} queries/s)"),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from reasonrank.distributed import RayOptions, rerank_dataset

    options = RayOptions(
        address=args.ray_address, replicas=args.replicas, gpus_per_replica=args.gpus_per_replica,
        cpus_per_replica=args.cpus_per_replica, batch_size=args.batch_size,
        max_restarts=args.max_restarts,
        runtime_env=common.parse_json_option(args.runtime_env, "--runtime-env"),
    )
    # Ray prints cluster errors (a task killed for memory and retried...) to stdout: send them
    # to stderr, so stdout holds only the summary (--json stays parseable).
    with contextlib.redirect_stdout(sys.stderr):
        summary = rerank_dataset(
            args.input, args.output, checked_spec(args), ray_options=options, run=args.run,
            candidates_per_query=common.depth_from_args(args), limit_queries=args.limit_queries,
            shard_size=args.shard_size, show_progress=not args.no_progress,
        )
    return common.print_report(summary, args.json, format_summary,
                               f"{args.output}/shards/, run.reranked.trec, summary.json")
