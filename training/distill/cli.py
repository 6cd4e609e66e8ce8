"""``reasonrank train distill DATASET --teacher TEACHER --output DIR``: the command line of :func:`distill`."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from reasonrank.training.distill.losses import LOSSES
from reasonrank.training.distill.student import KINDS

EPILOG = """examples:
  # the judgments as the teacher, a quarter of the queries held out
  reasonrank train distill /data/trec-dl19 --teacher qrels --output students/dl19-qrels --eval-split 0.25
  # a reasoning reranker as the teacher (run once, cached in OUTPUT/teacher, resumable)
  reasonrank train distill /data/trec-dl19 --teacher reasonrank-7b --output students/dl19-rr7b --eval-split 0.25
  # a recorded teacher: a reasonrank eval / rerank-dataset folder, a TREC run, a synthesis folder
  reasonrank train distill /data/trec-dl19 --teacher runs/rr7b-dl19 --output students/dl19-rr7b
"""


def add_distill_parser(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("distill", help="distil a reranker (or the judgments) into a dense or cross-encoder student",
                        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DATASET",
                   help="dataset folder, BEIR folder, benchmark name (dl19, beir/scifact…), ir_datasets id, or a JSONL "
                   "of {query_id, query, candidates[, qrels]} rows")
    p.add_argument("--teacher", required=True, metavar="TEACHER",
                   help="'qrels' (the judgments), a preset (reasonrank-7b, embedded-listwise…), a JSON spec "
                   "('{\"method\": \"pointwise\", \"model\": \"…\"}'), or a recorded output: an eval / rerank-dataset "
                   "folder, a TREC run, a train synthesize folder")
    p.add_argument("--teacher-options", default=None, metavar="JSON",
                   help="spec fields or method settings for a preset teacher, e.g. '{\"engine\": \"vllm\"}'")
    p.add_argument("--output", "-o", required=True, metavar="DIR",
                   help="the student folder (loads with --method dense/cross --model DIR)")
    p.add_argument("--student", default=None, metavar="MODEL",
                   help="encoder folder or hub id to start from (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--kind", choices=KINDS, default="dense",
                   help="dense: a bi-encoder (default); cross: a cross-encoder (a relevance head on the encoder)")
    p.add_argument("--loss", choices=LOSSES, default="auto",
                   help="auto (default): RankNet for an order or judgments, listwise KL for scores, "
                   "Margin-MSE for a cross-encoder teacher and a dense student")
    p.add_argument("--epochs", type=int, default=2, metavar="N", help="passes over the training queries (default 2)")
    p.add_argument("--depth", type=int, default=100, metavar="K", help="first-stage candidates per query (default 100)")
    p.add_argument("--limit-queries", type=int, default=None, metavar="N", help="only the first N queries")
    p.add_argument("--run", default=None, metavar="FILE", help="first-stage TREC run of a dataset folder")
    p.add_argument("--eval-split", type=float, default=0.0, metavar="F",
                   help="hold out this fraction of the queries (by query) and compare the student with its base, "
                   "the teacher and BM25 on them (default 0: none)")
    p.add_argument("--seed", type=int, default=42, help="the seed of every draw and of torch (default 42)")
    p.add_argument("--group-size", type=int, default=16, metavar="G", help="candidates per query a step (default 16)")
    p.add_argument("--queries-per-step", type=int, default=4, metavar="B", help="queries a step (default 4)")
    p.add_argument("--learning-rate", type=float, default=5e-5, metavar="LR", help="AdamW's learning rate (default 5e-5)")
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="stop after N steps in all (resumable with --resume)")
    p.add_argument("--device", default="cpu", help="where the student trains: cpu (default; deterministic with "
                   "a seed) or cuda")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")
    ray = p.add_argument_group("ray (a preset or spec teacher)")
    ray.add_argument("--ray", action="store_true", help="run the teacher on Ray (reasonrank rerank-dataset's runner)")
    ray.add_argument("--ray-address", default=None, metavar="ADDR", help="Ray cluster address (default: local)")
    ray.add_argument("--replicas", type=int, default=1, metavar="N", help="teacher replicas (default 1)")
    ray.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="G", help="GPUs per replica")
    p.add_argument("--json", action="store_true", help="print the run's record (distill.json) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _teacher(args: argparse.Namespace) -> Any:
    if not args.teacher_options:
        return args.teacher
    from reasonrank.cli.common import parse_json_option
    from reasonrank.spec import RerankerSpec

    options = parse_json_option(args.teacher_options, "--teacher-options")
    text = args.teacher.strip()
    base = json.loads(text) if text.startswith("{") else {"preset": text}
    return RerankerSpec.from_options(**{**base, **options})


def run(args: argparse.Namespace) -> int:
    from reasonrank.training.distill import DistillSettings, distill

    settings = DistillSettings(
        student=args.student, kind=args.kind, loss=args.loss, epochs=args.epochs, depth=args.depth,
        limit_queries=args.limit_queries, run=args.run, eval_split=args.eval_split, seed=args.seed,
        group_size=args.group_size, queries_per_step=args.queries_per_step, learning_rate=args.learning_rate,
        max_steps=args.max_steps, device=args.device,
    )
    ray_options = None
    if args.ray:
        from reasonrank.distributed.runner import RayOptions

        ray_options = RayOptions(address=args.ray_address, replicas=args.replicas,
                                 gpus_per_replica=args.gpus_per_replica)
    record = distill(args.dataset, _teacher(args), args.output, settings, resume=args.resume,
                     show_progress=not args.no_progress and sys.stderr.isatty(), ray_options=ray_options)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(_summary(record))
    return 0


def _summary(record: dict[str, Any]) -> str:
    tr = record["training"]
    unfinished = "" if tr["finished"] else ", unfinished: rerun with --resume"
    data = record["data"]
    lines = [(f"student: {record['output']} ({record['settings']['kind']}; loss {record['loss']}; "
              f"{tr['steps']}/{tr['total_steps']} steps{unfinished})"),
             f"teacher: {record['teacher']['teacher']} (gives {record['teacher']['gives']})",
             f"queries: {data['train_queries']} training, {data['heldout_queries']} held out, {data['skipped']} skipped"]
    held = record.get("heldout")
    if held:
        lines.append(f"{'held out':12} {'nDCG@10':>8} {'agreement':>10} {'tau(BM25)':>10}")
        for key in ("student", "base", "teacher", "first_stage"):
            row = held[key]
            cells = [f"{row[k]:.4f}" if isinstance(row[k], float) else "-" for k in ("ndcg10", "agreement", "tau_first_stage")]
            lines.append(f"{key:12} {cells[0]:>8} {cells[1]:>10} {cells[2]:>10}")
    return "\n".join(lines)
