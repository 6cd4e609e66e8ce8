"""A benchmark before its first stage: queries, judgments and access to its whole corpus.

Each source (a local folder, ir_datasets, BRIGHT on the HF hub) builds a :class:`Collection`;
:func:`reasonrank.datasets.load_dataset` then adds a first-stage run (a file, or bm25s over
``iter_docs``) and fetches only the passages the run points at (``get_docs``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from reasonrank.data import Qrels, Run
from reasonrank.types import Candidate


@dataclass
class Collection:
    """Queries, judgments and the corpus of one benchmark.

    ``corpus_key`` names the corpus for caches (DL19 and DL20 share ``ir_datasets:msmarco-passage``,
    so they share one BM25 index). ``excluded`` holds, per query, documents the benchmark forbids
    in its ranking (BRIGHT's ``excluded_ids``); they are removed from every run.
    """

    name: str
    queries: dict[str, str]
    qrels: Qrels
    corpus_key: str
    iter_docs: Callable[[], Iterator[Candidate]]
    get_docs: Callable[[Iterable[str]], dict[str, Candidate]]
    excluded: dict[str, set[str]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def drop_excluded(self, run: Run) -> Run:
        """``run`` without each query's excluded documents (as BRIGHT's own evaluation does)."""
        if not self.excluded:
            return run
        return {q: [(d, s) for d, s in docs if d not in self.excluded.get(q, ())] for q, docs in run.items()}
