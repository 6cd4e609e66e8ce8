"""``reasonrank rerank``: rerank a JSONL file of documents for one query.

Docs file: one JSON object per line with ``id``, ``text`` and optional ``title``. Bad input
exits 2 with a one-line message (``FILE:LINE: ...`` for a bad line).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reasonrank.cli import common
from reasonrank.errors import InvalidInputError
from reasonrank.inputs import read_candidates_jsonl
from reasonrank.methods.criteria import parse_criteria  # noqa: F401 - re-exported (--criteria's syntax)
from reasonrank.methods.passages import fix_text_fast
from reasonrank.types import Candidate, Query, RerankResult


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rerank",
        help="rerank documents (JSONL) for a query",
        description="Rerank the documents of a JSONL file (one {\"id\", \"text\", \"title\"?} "
        "object per line) for one query, and print the ranking, scores and reasoning.",
    )
    parser.add_argument("--query", required=True, help="the query text")
    parser.add_argument("--docs", required=True, metavar="FILE.jsonl",
                        help="documents, one JSON object per line ('-': read them from standard input)")
    common.add_reranker_arguments(parser)
    common.add_depth_argument(parser, default=None,
                              help="rerank only the first K documents (rerank depth); the rest follow in input order")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--output", "-o", default=None, metavar="FILE",
                        help="also write the result (the --json document) to FILE")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the exact prompt(s) that would be sent first, without calling the model")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


def read_docs_jsonl(path: str | Path) -> list[Candidate]:
    """Candidates from a JSONL file; raises :class:`InvalidInputError` naming FILE:LINE."""
    return read_candidates_jsonl(path)


def _method_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"depth": common.depth_from_args(args)}
    if not args.no_progress and not args.dry_run and sys.stderr.isatty():
        overrides["show_progress"] = True
    return overrides


def run(args: argparse.Namespace) -> int:
    if not args.query.strip():
        raise InvalidInputError("--query is empty")
    docs = read_docs_jsonl(args.docs)
    reranker = common.spec_from_args(args, **_method_overrides(args)).build()
    try:
        if args.dry_run:
            return _dry_run(reranker, args, docs)
        result = reranker.rerank(Query(args.query), docs)
    finally:
        reranker.engine.close()
    doc = result.to_dict()
    if args.output:
        Path(args.output).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return common.print_report(doc, args.json, lambda _: format_result(result), args.output)


def _dry_run(reranker: Any, args: argparse.Namespace, docs: list[Candidate]) -> int:
    requests = reranker.dry_run(Query(args.query), docs)
    if args.json:
        print(json.dumps({
            "query": args.query,
            "method": reranker.method,
            "requests": [{"messages": [dict(m) for m in r.messages], "assistant_prefix": r.assistant_prefix,
                          "prompt": reranker.engine.render(r)} for r in requests],
        }, ensure_ascii=False, indent=2))
    else:
        for n, request in enumerate(requests, start=1):
            print(f"===== request {n} of {len(requests)} (first step; later ones depend on the model) =====")
            print(reranker.engine.render(request))
    return 0


def format_result(result: RerankResult, snippet: int = 70) -> str:
    """Human-readable ranking: rank, input rank ("was"), score, id, text snippet; then the
    reasoning (or each document's evidence) and warnings."""
    u = result.usage
    lines = [
        f"query: {result.query.text}",
        (f"method: {result.method}  model: {result.model}  candidates: {len(result.ranked)}  "
         f"engine calls: {u.engine_calls}  tokens: {u.prompt_tokens} in / {u.completion_tokens} out  "
         f"seconds: {result.seconds:.1f}"
         + (f"  fallbacks: {u.fallbacks} unusable outputs, {u.engine_fallbacks} engine failures"
            if u.fallbacks or u.engine_fallbacks else "")),
        "",
        f"{'rank':>4}  {'was':>4}  {'score':>8}  {'id':<16} text",
    ]
    for r in result.ranked:
        # Display only: the same ftfy repair prompts get (DL19 has mojibake such as "Didnât").
        text = " ".join(fix_text_fast(r.candidate.content()).split())
        text = text if len(text) <= snippet else text[: snippet - 3] + "..."
        lines.append(f"{r.rank + 1:>4}  {r.input_rank + 1:>4}  {r.score:>8.4f}  {r.id:<16} {text}")
    if result.reasoning:
        lines += ["", "reasoning:", result.reasoning]
    evidence = [r for r in result.ranked if r.reasoning]
    if evidence and not result.reasoning:
        # Methods without written reasoning (attention, logits) say what each score rests on.
        lines += ["", "evidence (per document, in the new order):"]
        lines += [f"  {r.rank + 1:>2}. {r.id}: {r.reasoning}" for r in evidence]
    if result.warnings:
        lines += ["", "warnings:"] + [f"  - {w}" for w in result.warnings]
    return "\n".join(lines)
