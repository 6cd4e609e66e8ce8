"""Benchmark names: aliases, ir_datasets ids and BRIGHT tasks, resolved to where the data lives.

A name is resolved in this order: an existing folder (the dataset/BEIR folder layouts of
:mod:`reasonrank.data`), an alias (``dl19``, ``dl20``), ``bright/<task>``, then any ir_datasets
id (``msmarco-passage/trec-dl-2019/judged``, ``beir/scifact/test``; ``beir/<name>`` picks the
``test`` split when the set has several).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reasonrank.errors import InvalidInputError

ALIASES = {
    "dl19": "msmarco-passage/trec-dl-2019/judged",
    "dl20": "msmarco-passage/trec-dl-2020/judged",
    "trec-dl-2019": "msmarco-passage/trec-dl-2019/judged",
    "trec-dl-2020": "msmarco-passage/trec-dl-2020/judged",
}

# The 12 tasks of BRIGHT (xlangai/BRIGHT on the HF hub): the splits of its `examples` and
# `documents` configs.
BRIGHT_TASKS = (
    "biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
    "sustainable_living", "leetcode", "pony", "aops", "theoremqa_theorems", "theoremqa_questions",
)
BRIGHT_PREFIX = "bright/"

Kind = Literal["folder", "ir_datasets", "bright"]


@dataclass(frozen=True)
class DatasetRef:
    """Where a named dataset comes from: ``kind`` and the id inside that source."""

    name: str  # what the user typed
    kind: Kind
    id: str  # folder path, ir_datasets id, or BRIGHT task


def resolve(name: str) -> DatasetRef:
    """Resolve a user-facing dataset name (see the module doc); unknown names fail clearly."""
    if not name or not name.strip():
        raise InvalidInputError("dataset name is empty")
    if Path(name).is_dir():
        return DatasetRef(name, "folder", name)
    key = name.strip().strip("/")
    if key.lower() in ALIASES:
        return DatasetRef(name, "ir_datasets", ALIASES[key.lower()])
    if key.lower().startswith(BRIGHT_PREFIX):
        task = key[len(BRIGHT_PREFIX):]
        if task not in BRIGHT_TASKS:
            raise InvalidInputError(f"unknown BRIGHT task {task!r}; tasks: {', '.join(BRIGHT_TASKS)}")
        return DatasetRef(name, "bright", task)
    if "/" in key:
        return DatasetRef(name, "ir_datasets", _irds_id(key))
    raise InvalidInputError(
        f"{name!r} is neither a folder nor a known dataset name; use a dataset folder, "
        f"{', '.join(sorted(ALIASES))}, bright/<task> or an ir_datasets id such as beir/scifact/test"
    )


def _irds_id(key: str) -> str:
    """``beir/<name>`` -> ``beir/<name>/test`` when ir_datasets has that split."""
    try:
        import ir_datasets
    except ImportError:  # checked with a clear message when the data is loaded
        return key
    registry = ir_datasets.registry
    if key.startswith("beir/") and f"{key}/test" in registry:
        return f"{key}/test"
    if key not in registry:
        raise InvalidInputError(
            f"{key!r} is not an ir_datasets id (see https://ir-datasets.com); "
            "aliases: " + ", ".join(sorted(ALIASES)) + ", beir/<name>, bright/<task>"
        )
    return key
