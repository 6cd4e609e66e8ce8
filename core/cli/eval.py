"""``reasonrank eval DATASET``: rerank a first-stage run and score it against the judgments.

Writes ``OUT/run.reranked.trec``, ``OUT/results.jsonl`` (one rerank result with its reasoning
per query, appended as queries finish) and ``OUT/metrics.json`` (first stage and reranker side by
side). Rerunning the same command resumes: finished queries are not reranked again.
"""
from __future__ import annotations

import argparse
from typing import Any

from reasonrank.cli import common
from reasonrank.metrics import DEFAULT_MEASURES


def add_dataset_arguments(parser: argparse.ArgumentParser, default_depth: int) -> None:
    """DATASET, --run, --first-stage..., --depth, --limit-queries, --batch-size, --no-progress."""
    parser.add_argument("dataset", metavar="DATASET",
                        help="dataset folder (queries.tsv, qrels.txt, run.*.trec, corpus.jsonl), "
                        "BEIR folder (queries.jsonl, qrels/test.tsv, corpus.jsonl), or a benchmark "
                        "name: dl19, dl20, beir/<name> (e.g. beir/scifact), bright/<task>, or an "
                        "ir_datasets id (needs reasonrank[datasets])")
    parser.add_argument("--run", default=None, metavar="FILE",
                        help="first-stage TREC run (default: the folder's run.bm25.trec or only "
                        "*.trec; else BM25 from bm25s over the corpus)")
    parser.add_argument("--first-stage", choices=["auto", "bm25s"], default="auto",
                        help="bm25s: BM25 over the whole corpus even when the folder ships a run "
                        "(default auto: --run, else the folder's run, else bm25s)")
    parser.add_argument("--first-stage-depth", type=int, default=None, metavar="K",
                        help="documents bm25s retrieves per query (default max(100, --depth))")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="where bm25s indexes and runs are cached "
                        "(default $REASONRANK_CACHE or ~/.cache/reasonrank)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="a local copy of the xlangai/BRIGHT dataset repo, for bright/<task> offline")
    # No argparse default: an explicit --depth also sets the reranker's own depth (a preset's
    # ``depth = 20`` would otherwise rerank only 20 of the K candidates); see ``rerank_depth``.
    common.add_depth_argument(parser, default=None,
                              help=f"rerank each query's first-stage top K (rerank depth; default {default_depth}, "
                              "or the preset's depth when smaller)")
    parser.set_defaults(default_depth=default_depth)
    parser.add_argument("--limit-queries", type=int, default=None, metavar="N",
                        help="only the first N judged queries of the run")
    parser.add_argument("--batch-size", type=int, default=None, metavar="B",
                        help="queries per rerank_batch call (default: the engine's max_batch_size, "
                        "at most 64; results are saved after each call)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def rerank_depth(args: argparse.Namespace) -> int:
    """Candidates per query: ``--depth`` when given, else the command's default."""
    return common.depth_from_args(args) or args.default_depth


def depth_override(args: argparse.Namespace) -> dict[str, Any]:
    """The reranker override an explicit ``--depth`` implies (none when it was not given)."""
    depth = common.depth_from_args(args)
    return {} if depth is None else {"depth": depth}


def default_batch_size(reranker) -> int:
    """As many queries per call as the engine batches (1 for llama.cpp, many for vLLM), so a
    serial engine saves every query and a batched one stays full."""
    return max(1, min(64, int(getattr(reranker.engine, "max_batch_size", 1) or 1)))


def dataset_from_args(args: argparse.Namespace):
    """The dataset the shared options name (loaded before any model, so bad data fails first)."""
    from reasonrank.datasets import load_dataset

    return load_dataset(
        args.dataset, run=args.run, first_stage=args.first_stage,
        depth=args.first_stage_depth or max(100, common.depth_from_args(args) or 0),
        cache_dir=args.cache_dir, data_dir=args.data_dir, show_progress=not args.no_progress,
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval", help="rerank a dataset's first-stage run and report nDCG/Recall/MRR",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataset_arguments(parser, default_depth=100)
    parser.add_argument("--output", "-o", required=True, metavar="OUT_DIR",
                        help="output folder (resumes if it holds results of the same settings)")
    parser.add_argument("--measures", nargs="+", default=list(DEFAULT_MEASURES),
                        help="ir-measures names (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print the metrics document (metrics.json, with fallback totals) instead of the table")
    common.add_reranker_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reasonrank.evaluate import evaluate, format_metrics

    dataset = dataset_from_args(args)  # bad data fails before a model loads
    reranker = common.reranker_from_args(args, **depth_override(args))
    try:
        doc = evaluate(
            reranker, dataset, args.output,
            top_k=rerank_depth(args),
            limit_queries=args.limit_queries,
            batch_size=args.batch_size or default_batch_size(reranker),
            measures=args.measures,
            show_progress=not args.no_progress,
            extra_config={"preset": args.preset},
        )
    finally:
        reranker.engine.close()
    return common.print_report(doc, args.json, format_metrics,
                               f"{args.output}/run.reranked.trec, results.jsonl, metrics.json")
