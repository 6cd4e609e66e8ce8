"""Training examples on disk (JSONL) and their conversion to TRL datasets.

A listwise example (one window of a query, labelled by a teacher)::

    {"kind": "listwise", "qid": "...", "query": "...",
     "messages": [{"role": "system", ...}, {"role": "user", ...},
                  {"role": "assistant", "content": "<think>...</think>\\n<answer>[2] > [1] ...</answer>"}],
     "candidate_ids": ["docA", "docB", ...],      # the window, in prompt order ([k] = candidate_ids[k-1])
     "gold_answer": "[2] > [1] > ...",            # the teacher's ranking (the RL label)
     "relevant_ids": ["docB", ...],               # from qrels (binary relevance)
     "teacher_ndcg10": 0.83}

A pointwise example (Rank1 style) has ``"kind": "pointwise"``, ``docid``, ``messages`` whose
assistant turn is ``"<think>...</think> true"`` and ``label`` (bool).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError

LISTWISE_KEYS = ("messages", "candidate_ids", "gold_answer", "relevant_ids")
POINTWISE_KEYS = ("messages", "label")


def read_examples(path: str | Path) -> list[dict[str, Any]]:
    """All examples of a JSONL file; malformed lines raise with FILE:LINE."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            kind = row.get("kind", "listwise")
            needed = LISTWISE_KEYS if kind == "listwise" else POINTWISE_KEYS
            missing = [k for k in needed if k not in row]
            if missing:
                raise InvalidInputError(f"{path}:{lineno}: {kind} example lacks {', '.join(missing)}")
            msgs = row["messages"]
            if not msgs or msgs[-1].get("role") != "assistant":
                raise InvalidInputError(f"{path}:{lineno}: the last message must be the assistant's")
            rows.append(row)
    if not rows:
        raise InvalidInputError(f"{path}: no training examples")
    return rows


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file, skipping a torn last line (a run killed mid-write)."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def append_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows and flush, so a crash loses at most the row being written."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        fh.flush()


def sft_records(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prompt/completion records: TRL's SFTTrainer computes the loss on the completion (the
    assistant turn) only."""
    return [{"prompt": r["messages"][:-1], "completion": [r["messages"][-1]]} for r in rows]


def grpo_records(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prompt records plus the columns the reward functions read."""
    out = []
    for r in rows:
        rec: dict[str, Any] = {"prompt": r["messages"][:-1]}
        if r.get("kind", "listwise") == "listwise":
            rec.update(
                candidate_ids=[str(x) for x in r["candidate_ids"]],
                gold_answer=r["gold_answer"],
                relevant_ids=[str(x) for x in r["relevant_ids"]],
            )
        else:
            rec["label"] = bool(r["label"]) if not isinstance(r["label"], str) else r["label"].lower() == "true"
        out.append(rec)
    return out
