"""Shared bits of the example apps: the shipped corpus and the command-line options."""
from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


def load_passages() -> list[dict[str, str]]:
    """The 60 TREC DL 2019 passages shipped in ``examples/corpus`` (see its PROVENANCE.md)."""
    with open(CORPUS_DIR / "passages.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_queries() -> dict[str, str]:
    """qid -> query text of the shipped queries."""
    lines = (CORPUS_DIR / "queries.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line.strip())


def load_qrels() -> dict[str, dict[str, int]]:
    """qid -> {docid: grade} for the shipped passages."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (CORPUS_DIR / "qrels.txt").read_text().splitlines():
        qid, _, docid, grade = line.split()
        qrels.setdefault(qid, {})[docid] = int(grade)
    return qrels


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: list[str] | None) -> dict[str, Any]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        out[key] = _value(value)
    return out


def parser(description: str) -> argparse.ArgumentParser:
    """Options common to both apps (defaults: the embedded CPU model for everything)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--query", help="query text (default: the first shipped TREC DL 2019 query)")
    p.add_argument("--retrieve-k", type=int, default=10, help="passages retrieved first")
    p.add_argument("--top-n", type=int, default=3, help="passages kept after reranking")
    p.add_argument("--method", help="reranking method (default: the library's CPU default, dense with the "
                   "bundled all-MiniLM-L6-v2; listwise, pointwise, rebel or setwise show the LLM's reasoning)")
    p.add_argument("--preset", help="reasonrank preset (default: the method's embedded preset)")
    p.add_argument("--engine", help="engine for reranking (default: the method's)")
    p.add_argument("--model", help="model name or path (e.g. the tiny test model folder)")
    p.add_argument("--answer-engine", help="engine that writes the answer (default: the reranker's when it "
                   "generates, else the embedded LLM)")
    p.add_argument("--engine-option", action="append", metavar="KEY=VALUE", help="engine option")
    p.add_argument("--method-option", action="append", metavar="KEY=VALUE", help="method option")
    p.add_argument("--on-error", default="keep_order", choices=["raise", "keep_order"])
    p.add_argument("--answer-tokens", type=int, default=200, help="max tokens of the answer")
    return p


def options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(engine_options, method_options) from the KEY=VALUE flags."""
    return _pairs(args.engine_option), _pairs(args.method_option)


def default_query(args: argparse.Namespace) -> tuple[str | None, str]:
    """(qid or None, query text)."""
    if args.query:
        return None, args.query
    qid, text = next(iter(load_queries().items()))
    return qid, text


def show(text: str | None, width: int = 100, limit: int = 600) -> str:
    """Text shortened and indented for the console."""
    text = " ".join((text or "").split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return textwrap.indent(textwrap.fill(text, width), "      ") if text else "      (none)"


def answer_engine(reranker_engine: Any, name: str | None) -> Any:
    """The engine that writes the answer: ``name``; else the reranker's own when it can generate
    (one model in memory for both); else the embedded LLM (an encoder cannot write)."""
    from reasonrank.engines import create_engine

    if name:
        return create_engine(name)
    if getattr(reranker_engine, "encoder_kind", None) is None:
        return reranker_engine
    return create_engine("embedded")


def reasoning_hint(method: str) -> str:
    """What the reasoning section says when the method wrote none (dense, cross, relevance)."""
    return (f"({method} scores each passage without writing any reasoning; to see an LLM reason about the "
            "passages, add: --method listwise)")


def stage_summary(qrels: dict[str, dict[str, int]], qid: str | None, retrieved: list[str], reranked: list[str]) -> str:
    """One line saying what the reranking stage added: the grades of the top passages before and after."""
    if qid is None:
        return ""
    n = len(reranked)
    before = [grade(qrels, qid, d) for d in retrieved[:n]]
    after = [grade(qrels, qid, d) for d in reranked]
    return f"grades of the top {n}: retrieval {' '.join(before)} -> reranked {' '.join(after)}"


def grade(qrels: dict[str, dict[str, int]], qid: str | None, docid: str) -> str:
    """The TREC relevance grade of a passage, for display ('-' when unjudged or custom query)."""
    if qid is None or docid not in qrels.get(qid, {}):
        return "-"
    return str(qrels[qid][docid])
