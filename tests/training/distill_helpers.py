"""Tiny distillation data the tests build: a dataset folder whose relevant passages share the
query's topic word, a JSONL of candidate rows, and tiny settings (the tiny random encoders of
``reasonrank.testing.tiny_encoder`` as students; a few steps each)."""
from __future__ import annotations

import json
from pathlib import Path

from reasonrank.training.distill import DistillSettings

TOPICS = ("fleas", "concrete", "judgment", "volcano", "piano", "coffee")
DEPTH = 8


def doc_ids(q: int) -> list[str]:
    return [f"q{q}d{i}" for i in range(DEPTH)]


def make_dataset(root: Path, topics: tuple[str, ...] = TOPICS) -> Path:
    """A dataset folder: queries.tsv, qrels.txt, run.bm25.trec and corpus.jsonl (8 candidates a query,
    every third one relevant)."""
    root.mkdir(parents=True, exist_ok=True)
    queries, run, qrels, docs = [], [], [], []
    for q, topic in enumerate(topics):
        queries.append(f"q{q}\thow long do {topic} last")
        for i, did in enumerate(doc_ids(q)):
            relevant = i % 3 == 1
            text = f"{topic} last about {i} years" if relevant else f"notes {i} on {topics[(q + 1) % len(topics)]}"
            docs.append(json.dumps({"_id": did, "title": "", "text": text}))
            run.append(f"q{q} Q0 {did} {i + 1} {20 - i:.3f} bm25")
            qrels.append(f"q{q} 0 {did} {2 if relevant else 0}")
    for name, lines in (("queries.tsv", queries), ("run.bm25.trec", run), ("qrels.txt", qrels),
                        ("corpus.jsonl", docs)):
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_run(path: Path, ranking: dict[str, list[str]]) -> Path:
    """A TREC run with rank scores (an order-only teacher)."""
    lines = [f"{q} Q0 {d} {r + 1} {len(ids) - r} t" for q, ids in ranking.items() for r, d in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings(student: Path, **overrides) -> DistillSettings:
    """A few steps on the tiny data: 2 epochs of 2 queries a step, 4 candidates each."""
    base = {"student": str(student), "epochs": 2, "group_size": 4, "queries_per_step": 2, "depth": DEPTH,
            "head": 3, "checkpoint_every": 1}
    return DistillSettings(**{**base, **overrides})


def weights(folder: Path) -> dict:
    """The saved student's tensors (safetensors), for exact comparisons."""
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))
