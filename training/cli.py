"""``reasonrank train synthesize|sft|grpo|distill``: the training pipeline from the command line.

Heavy packages (TRL, datasets, torch) are imported only inside the handlers, so ``reasonrank
--help`` works without the training extra.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="YAML/TOML config (keys = settings; examples in training/configs/ of the repository)")
    parser.add_argument("--model", default=None, help="base model path or id (overrides the config)")
    parser.add_argument("--train-file", default=None, help="training examples JSONL (overrides)")
    parser.add_argument("--output", "-o", dest="output_dir", default=None, metavar="OUT_DIR",
                        help="where the checkpoint goes (overrides the config's output_dir)")
    from reasonrank.cli.common import add_deprecated_alias

    add_deprecated_alias(parser, "--output-dir", "--output", "output_dir")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting, VALUE parsed as JSON when it can be (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": args.model, "train_file": args.train_file,
        "output_dir": args.output_dir, "max_steps": args.max_steps,
    }
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    for key, value in summary.items():
        if key != "settings":
            print(f"{key}: {value}")


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="synthesize training data, SFT, GRPO (the training extra); distil a reranker into an encoder (the dense extra)")
    tsub = train.add_subparsers(dest="train_command", metavar="STEP")
    tsub.required = True

    syn = tsub.add_parser("synthesize", help="teacher-labelled listwise/pointwise examples with the self-consistency filter")
    syn.add_argument("dataset", help="dataset folder (queries.tsv, qrels.txt, run.*.trec, corpus.jsonl) or BEIR folder")
    syn.add_argument("--output", "-o", required=True, metavar="OUT_DIR", help="output folder (resumable: rerun to continue)")
    syn.add_argument("--kinds", default="listwise,pointwise", help="listwise, pointwise or both (comma separated)")
    syn.add_argument("--window-size", type=int, default=20, help="passages per listwise example (official: 20)")
    syn.add_argument("--ndcg-threshold", type=float, default=0.4,
                     help="keep a listwise label when its nDCG@10 is above this (official: 0.4)")
    syn.add_argument("--pointwise-per-query", type=int, default=4, help="(query, passage) pairs per query")
    syn.add_argument("--limit-queries", type=int, default=None, help="only the first N judged queries")
    syn.add_argument("--reasoning-budget", type=int, default=3072, help="max reasoning tokens of the teacher")
    syn.add_argument("--concurrency", type=int, default=None, help="requests in flight (default: the engine's)")
    from reasonrank.cli import add_reranker_arguments

    add_reranker_arguments(syn)
    syn.add_argument("--json", action="store_true", help="print the report as JSON")
    syn.set_defaults(func=_run_synthesize)

    sft = tsub.add_parser("sft", help="supervised fine-tuning with TRL's SFTTrainer")
    _add_config_args(sft)
    sft.set_defaults(func=_run_sft)

    grpo = tsub.add_parser("grpo", help="GRPO with the multi-view ranking reward (TRL's GRPOTrainer)")
    _add_config_args(grpo)
    grpo.set_defaults(func=_run_grpo)

    from reasonrank.training.distill.cli import add_distill_parser

    add_distill_parser(tsub)


def _run_sft(args: argparse.Namespace) -> int:
    from reasonrank.training.config import SFTSettings, load_settings
    from reasonrank.training.sft import run_sft

    _print_summary(run_sft(load_settings(SFTSettings, args.config, **_overrides(args))), args.json)
    return 0


def _run_grpo(args: argparse.Namespace) -> int:
    from reasonrank.training.config import GRPOSettings, load_settings
    from reasonrank.training.grpo import run_grpo

    _print_summary(run_grpo(load_settings(GRPOSettings, args.config, **_overrides(args))), args.json)
    return 0


def _run_synthesize(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from reasonrank.cli import spec_from_args
    from reasonrank.training.synthesize import SynthesisSettings, synthesize

    spec = spec_from_args(args)
    if spec.method is None and spec.preset is None:  # the teacher writes listwise rankings
        spec = replace(spec, method="listwise")
    teacher = spec.build_engine()
    settings = SynthesisSettings(
        kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()),
        window_size=args.window_size,
        ndcg_threshold=args.ndcg_threshold,
        pointwise_per_query=args.pointwise_per_query,
        limit_queries=args.limit_queries,
        reasoning_budget=args.reasoning_budget,
        concurrency=args.concurrency,
    )
    try:
        report = synthesize(args.dataset, args.output, teacher, settings, show_progress=sys.stderr.isatty())
    finally:
        teacher.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0
