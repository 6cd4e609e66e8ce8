"""The output folder of a distributed rerank: result shards, the TREC run and the summary.

``OUT/shards/results-NNNNN.jsonl`` hold one ``results.jsonl`` record per query (the schema of
``reasonrank eval``), appended and synced as results stream in; a new run (a resume) opens new
shards and never rewrites old ones. A query id is written at most once: the writer skips ids
already present, and readers keep the first record of an id (a retried task after a replica
died can deliver a query twice). ``OUT/run.reranked.trec`` and ``OUT/summary.json`` are written
at the end from all shards. The settings of the run are in ``OUT/eval_config.json``, checked on
resume as ``reasonrank eval`` checks its own.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from reasonrank.data import write_trec_run
from reasonrank.evaluate import load_results
from reasonrank.files import write_atomic
from reasonrank.metrics import ranked_run

SHARDS_DIR = "shards"
RUN_FILE = "run.reranked.trec"
SUMMARY_FILE = "summary.json"
_SHARD = re.compile(r"results-(\d{5,})\.jsonl$")


def shard_paths(out: Path) -> list[Path]:
    """The result shards of ``out`` in write order."""
    folder = Path(out) / SHARDS_DIR
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _SHARD.match(p.name)), key=lambda p: int(_SHARD.match(p.name).group(1)))  # type: ignore[union-attr]


def iter_records(out: Path) -> Iterator[dict[str, Any]]:
    """Every query's record once (the first written), shard by shard.

    An unfinished last line (the writer was killed mid-write) is dropped, as ``reasonrank
    eval`` does on resume.
    """
    seen: set[str] = set()
    for path in shard_paths(out):
        for qid, record in load_results(path).items():
            if qid not in seen:
                seen.add(qid)
                yield record


def done_ids(out: Path) -> set[str]:
    """Query ids that already have a result in ``out``."""
    return {r["query_id"] for r in iter_records(out)}


class ShardWriter:
    """Appends records to ``results-NNNNN.jsonl`` shards, ``shard_size`` records each.

    :meth:`write` skips query ids already written (by this or an earlier run) and returns
    whether it wrote; :meth:`sync` makes written records durable (called once per batch).
    """

    def __init__(self, out: Path, written: set[str], shard_size: int = 10_000) -> None:
        self.folder = Path(out) / SHARDS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written = written
        self.shard_size = shard_size
        existing = shard_paths(out)
        self._next = int(_SHARD.match(existing[-1].name).group(1)) + 1 if existing else 0  # type: ignore[union-attr]
        self._fh: TextIO | None = None
        self._count = 0
        self.paths: list[Path] = []

    def write(self, query_id: str, line: str) -> bool:
        if query_id in self.written:
            return False
        if self._fh is None or self._count >= self.shard_size:
            self._open_next()
        assert self._fh is not None  # opened just above
        self._fh.write(line.rstrip("\n") + "\n")
        self._count += 1
        self.written.add(query_id)
        return True

    def _open_next(self) -> None:
        self.close()
        path = self.folder / f"results-{self._next:05d}.jsonl"
        self._next += 1
        self._fh = path.open("a", encoding="utf-8")
        self._count = 0
        self.paths.append(path)

    def sync(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self.sync()
            self._fh.close()
            self._fh = None


def write_run(out: Path, query_ids: list[str], tag: str) -> int:
    """``OUT/run.reranked.trec`` for ``query_ids`` (input order) from the shards; returns how
    many queries it holds. Scores are strictly decreasing in the reranked order."""
    ranking = {r["query_id"]: [x["id"] for x in r["results"]] for r in iter_records(out)}
    ordered = {q: ranking[q] for q in query_ids if q in ranking}
    write_trec_run(Path(out) / RUN_FILE, ranked_run(ordered), tag=tag)
    return len(ordered)


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    write_atomic(Path(out) / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")


__all__ = [
    "RUN_FILE", "SHARDS_DIR", "SUMMARY_FILE", "ShardWriter", "done_ids", "iter_records",
    "shard_paths", "write_run", "write_summary",
]
