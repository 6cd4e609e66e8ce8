"""Inputs and summaries several benchmark scripts share: DL19 queries with their BM25 passages,
passages cut to a number of words, and the distribution of generated lengths.

DL19 is read from a dataset folder (``queries.tsv``, ``qrels.txt``, ``run.bm25.trec``,
``corpus.jsonl``: the layout of :mod:`reasonrank.data`): the folder named by the environment
variable ``REASONRANK_DL19``, else ``data/trec-dl19`` under the working directory; each
benchmark also takes it as an argument. Nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import statistics
from itertools import pairwise
from pathlib import Path
from typing import Any

#: The environment variable that names the DL19 folder, and the folder the benchmarks read.
DL19_ENV = "REASONRANK_DL19"
DL19 = Path(os.environ.get(DL19_ENV, "data/trec-dl19"))

Items = list[tuple[str, list[dict[str, Any]]]]


def load_dl19(n_queries: int, depth: int, root: Path = DL19) -> Items:
    """The first ``n_queries`` DL19 queries with their BM25 top-``depth`` passages (from ``root``)."""
    queries = dict(line.rstrip("\n").split("\t", 1) for line in (root / "queries.tsv").open())
    run: dict[str, list[tuple[int, str]]] = {}
    for line in (root / "run.bm25.trec").open():
        qid, _, docid, rank, *_ = line.split()
        run.setdefault(qid, []).append((int(rank), docid))
    qids = [q for q in queries if q in run][:n_queries]
    wanted = {d for q in qids for _, d in sorted(run[q])[:depth]}
    corpus = {}
    for line in (root / "corpus.jsonl").open():
        doc = json.loads(line)
        if doc["_id"] in wanted:
            corpus[doc["_id"]] = doc
    return [(queries[q], [{"id": d, "text": corpus[d]["text"], "title": corpus[d].get("title") or None}
                          for _, d in sorted(run[q])[:depth]]) for q in qids]


def cut_words(items: Items, words: int) -> Items:
    """The same items with each passage cut to its first ``words`` words (titles dropped)."""
    return [(q, [{"id": c["id"], "text": " ".join(c["text"].split()[:words])} for c in cands]) for q, cands in items]


def distribution(lengths: list[int]) -> dict[str, Any]:
    """Percentiles and a coarse histogram of per-window generated tokens."""
    xs = sorted(lengths)
    if not xs:
        return {}

    def pct(p: float) -> int:
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]

    edges = [0, 16, 32, 64, 128, 256, 512, 1024, 1 << 30]
    hist = {f"{a}-{b - 1}" if b < 1 << 30 else f">={a}": sum(a <= x < b for x in xs) for a, b in pairwise(edges)}
    return {"windows": len(xs), "mean": round(statistics.fmean(xs), 1), "p10": pct(10), "p25": pct(25),
            "median": pct(50), "p75": pct(75), "p90": pct(90), "p99": pct(99), "max": xs[-1],
            "max_over_mean": round(xs[-1] / max(1e-9, statistics.fmean(xs)), 2),
            "histogram": {k: v for k, v in hist.items() if v}}
