"""The queries a student learns from: each with its first-stage candidates and judgments.

``DATASET`` is any form ``reasonrank eval`` reads (a dataset folder, a BEIR folder, a benchmark
name, an ir_datasets id) or a JSONL file of ``{query_id, query, candidates}`` rows (the input of
``reasonrank rerank-dataset``; a row may carry ``qrels: {docid: grade}``). Every query of the
first-stage run is kept, judged or not (an LLM teacher labels unjudged queries too), cut to its
top ``depth`` candidates. A query with fewer than two candidates has no order to learn: it is
skipped and counted. Held-out queries are drawn by query, never by passage.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from reasonrank.data import EvalItem, json_lines
from reasonrank.errors import InvalidInputError
from reasonrank.types import Query

JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class DistillData:
    """The queries of a distillation run, in first-stage order, and what was left out."""

    name: str
    items: list[EvalItem]
    skipped: dict[str, str] = field(default_factory=dict)  # query id -> why

    @property
    def qids(self) -> list[str]:
        return [it.query.id or "" for it in self.items]

    @property
    def judged(self) -> bool:
        return any(it.qrels for it in self.items)

    def subset(self, qids: list[str]) -> list[EvalItem]:
        wanted = set(qids)
        return [it for it in self.items if it.query.id in wanted]


def load_distill_data(dataset: str | Path, *, depth: int = 100, limit_queries: int | None = None,
                      run: str | Path | None = None, show_progress: bool = False) -> DistillData:
    """The queries of ``dataset`` with their first-stage top ``depth`` (see the module doc)."""
    path = Path(dataset)
    if path.suffix.lower() in JSONL_SUFFIXES:
        if run is not None:
            raise InvalidInputError("a run file (--run) applies to a dataset folder, not a JSONL of candidates")
        name, items = path.stem, _jsonl_items(path, depth)
    else:
        from reasonrank.datasets import load_dataset

        data = load_dataset(dataset, run=run, depth=max(100, depth), show_progress=show_progress)
        name = data.name
        items = [data.item(q, depth) for q in data.query_ids(judged_only=False)]
    kept, skipped = [], {}
    for item in items:
        n = len(item.candidates)
        if n < 2:
            skipped[item.query.id or ""] = "no candidates" if n == 0 else "one candidate"
        else:
            kept.append(item)
    if limit_queries is not None:
        kept = kept[:limit_queries]
    if not kept:
        raise InvalidInputError(f"{dataset}: no query has two or more candidates to learn an order from")
    return DistillData(name, kept, skipped)


def _jsonl_items(path: Path, depth: int) -> list[EvalItem]:
    """Rows of a JSONL file as items (candidates cut to ``depth``); ids must be unique."""
    from reasonrank.distributed.rows import parse_row

    items: list[EvalItem] = []
    seen: set[str] = set()
    for n, obj in json_lines(path):
        where = f"{path}:{n}"
        empty = obj.get("candidates") == []
        # An empty list is a query to skip and count, not an error: the row is checked as one
        # with a placeholder candidate, which is then dropped.
        query, candidates = parse_row({**obj, "candidates": [{"id": "_", "text": "_"}]} if empty else obj, where)
        if empty:
            candidates = []
        if query.id in seen:
            raise InvalidInputError(f"{where}: query id {query.id!r} appears twice")
        seen.add(query.id or "")
        qrels = obj.get("qrels") or {}
        if not isinstance(qrels, dict):
            raise InvalidInputError(f"{where}: 'qrels' must be an object of docid -> grade")
        items.append(EvalItem(Query(query.text, id=query.id), candidates[:depth],
                              {str(d): int(g) for d, g in qrels.items()}))
    if not items:
        raise InvalidInputError(f"{path}: no rows")
    return items


def split_queries(qids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training, held-out) query ids: ``fraction`` of the queries (at least one when the
    fraction is positive) drawn with ``seed``; both lists keep the input order."""
    if not 0.0 <= fraction < 1.0:
        raise InvalidInputError(f"eval split must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return list(qids), []
    n = max(1, round(len(qids) * fraction))
    if n >= len(qids):
        raise InvalidInputError(f"eval split {fraction} leaves no training query of {len(qids)}")
    held = set(random.Random(f"split|{seed}").sample(list(qids), n))
    return [q for q in qids if q not in held], [q for q in qids if q in held]


__all__ = ["DistillData", "load_distill_data", "split_queries"]
