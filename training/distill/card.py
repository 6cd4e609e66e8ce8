"""The student's model card (``README.md``) and its machine-readable twin (``distill.json``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reasonrank.files import write_atomic

RECORD_FILE = "distill.json"
CARD_FILE = "README.md"

_SYSTEMS = (("student", "student"), ("base", "base model"), ("teacher", "teacher"), ("first_stage", "first stage (BM25)"))


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def render_card(record: dict[str, Any]) -> str:
    """The model card: what taught the student, on what, how, and how it does on held-out queries."""
    s, t, tr = record["settings"], record["teacher"], record["training"]
    kind = s["kind"]
    lines = [
        f"# {record['name']}",
        "",
        (f"A {'bi-encoder (dense)' if kind == 'dense' else 'cross-encoder'} reranker distilled with "
         "`reasonrank train distill`. Load it with"),
        "",
        "```bash",
        f"reasonrank rerank --method {kind} --model {record['output']} --query \"...\" --documents docs.jsonl",
        "```",
        "",
        f"or `reasonrank.load_reranker(method=\"{kind}\", model=\"{record['output']}\")`.",
        "",
        "## Training",
        "",
        "| | |",
        "|---|---|",
        f"| teacher | {t['teacher']} (gives {t['gives']}) |",
        (f"| data | {record['data']['name']}: {record['data']['train_queries']} training queries, "
         f"first-stage top {s['depth']} each; {record['data']['skipped']} skipped |"),
        f"| student | {s['student'] or 'embedded-minilm (all-MiniLM-L6-v2)'}, kind {kind} |",
        f"| loss | {record['loss']}{' + in-batch negatives' if kind == 'dense' and s['in_batch_weight'] else ''} |",
        (f"| steps | {tr['steps']} of {tr['total_steps']} ({s['epochs']} epochs, {s['queries_per_step']} queries x "
         f"{s['group_size']} candidates a step, lr {s['learning_rate']}) |"),
        f"| seed | {s['seed']} |",
        f"| finished | {tr['finished']} ({tr['seconds']:.0f} s of training) |",
    ]
    held = record.get("heldout")
    if held:
        share = f"{s['eval_split']:.0%} of the queries" if not s.get("heldout") else "given"
        lines += ["", f"## Held-out queries ({len(held['queries'])}, {share}, drawn by query)", "",
                  "| system | nDCG@10 (judgments) | agreement with the teacher | Kendall τ with the first stage |",
                  "|---|---|---|---|"]
        for key, label in _SYSTEMS:
            row = held[key]
            lines.append(f"| {label} | {_fmt(row['ndcg10'])} | {_fmt(row['agreement'])} | {_fmt(row['tau_first_stage'])} |")
        lines += ["", ("Agreement: nDCG@10 with the teacher's own top 10 as graded judgments (10 for its "
                       f"first … 1 for its tenth). Base: {held['base_model']}.")]
    return "\n".join(lines) + "\n"


def write_record(out: Path, record: dict[str, Any]) -> None:
    """``distill.json`` and ``README.md``, each written atomically."""
    for name, text in ((RECORD_FILE, json.dumps(record, indent=2, default=str) + "\n"), (CARD_FILE, render_card(record))):
        write_atomic(out / name, text)


def read_record(out: Path) -> dict[str, Any] | None:
    path = out / RECORD_FILE
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["CARD_FILE", "RECORD_FILE", "read_record", "render_card", "write_record"]
