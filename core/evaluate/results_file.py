"""The files of an evaluation folder, and the resumable ``results.jsonl`` among them.

One JSON line per finished query is appended and synced, so a crashed or interrupted run
resumes where it stopped; ``eval_config.json`` records the settings that must match to resume.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import IO, Any

from reasonrank.errors import InvalidInputError

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.reranked.trec"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "eval_config.json"
# Settings that must match for a run to resume into an existing output folder.
RESUME_KEYS = ("dataset", "first_stage_run", "top_k", "method", "model")


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """Finished queries of a ``results.jsonl`` (query_id -> record).

    A last line without its newline is what a crash mid-write leaves: it is cut off (with a
    warning) so appending continues on a clean line. A complete line that is not a result is an
    error naming FILE:LINE: the file is not ours, or it was edited.
    """
    if not path.is_file():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        warnings.warn(f"{path}: dropping an unfinished last line ({len(data) - end} bytes)", stacklevel=2)
        with path.open("r+b") as fh:
            fh.truncate(end)
    done: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(data[:end].decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            qid = str(record["query_id"])
            [r["id"] for r in record["results"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path}:{n}: not a rerank result ({exc})") from None
        done[qid] = record
    return done


def append_result(fh: IO[str], record: dict[str, Any]) -> None:
    """Append one finished query to an open ``results.jsonl`` and sync it to disk."""
    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())  # a finished query survives a crash


def check_config(out: Path, config: dict[str, Any], resuming: bool) -> None:
    """Write ``config`` to ``out/eval_config.json``; when ``resuming``, first check that the
    :data:`RESUME_KEYS` match the settings the folder's results were made with."""
    path = out / CONFIG_FILE
    if path.is_file() and resuming:
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), config.get(k)) for k in RESUME_KEYS if old.get(k) != config.get(k)}
        if diff:
            raise InvalidInputError(
                f"{out} holds results made with other settings {diff} (old, new); "
                "use another --output folder or delete it"
            )
    path.write_text(json.dumps(config, indent=2) + "\n")

