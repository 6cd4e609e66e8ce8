"""Standard benchmarks by name, with a first stage: ``load_dataset("dl19")``.

Names (see :mod:`reasonrank.datasets.names`): a dataset folder, ``dl19``/``dl20`` (TREC DL
2019/2020 passage, judged queries), any ir_datasets id with queries, qrels and docs
(``beir/scifact/test``; ``beir/<name>`` picks the test split), and ``bright/<task>`` (BRIGHT on
the HF hub, 12 tasks). Without a run file the first stage is BM25 (bm25s) over the dataset's
whole corpus, indexed once and cached (:mod:`reasonrank.datasets.bm25`). The result is the same
:class:`~reasonrank.data.Dataset` that :func:`reasonrank.evaluate.evaluate` reads; its
``first_stage`` says where the run came from and is recorded in ``metrics.json``.

Needs the ``datasets`` extra: ``pip install 'reasonrank[datasets]'``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from reasonrank.data import Dataset, read_trec_run
from reasonrank.datasets.bm25 import Bm25Settings, bm25_run
from reasonrank.datasets.collection import Collection
from reasonrank.datasets.folder import folder_collection
from reasonrank.datasets.names import ALIASES, BRIGHT_TASKS, DatasetRef, resolve
from reasonrank.datasets.sources import bright_collection, irds_collection
from reasonrank.errors import InvalidInputError

PathLike = str | os.PathLike[str]
FirstStage = Literal["auto", "bm25s"]


def load_collection(name: PathLike, data_dir: PathLike | None = None) -> Collection:
    """The queries, judgments and corpus a name points at, before any first stage."""
    ref = resolve(str(name))
    if ref.kind == "folder":
        return folder_collection(ref.id)
    if data_dir is not None and ref.kind != "bright":
        raise InvalidInputError("data_dir (--data-dir) is for BRIGHT; ir_datasets reads IR_DATASETS_HOME")
    if ref.kind == "ir_datasets":
        return irds_collection(ref.id)
    return bright_collection(ref.id, data_dir)


def load_dataset(
    name: PathLike,
    run: PathLike | None = None,
    *,
    first_stage: FirstStage = "auto",
    depth: int = 100,
    cache_dir: PathLike | None = None,
    data_dir: PathLike | None = None,
    bm25: Bm25Settings | None = None,
    show_progress: bool = True,
) -> Dataset:
    """A dataset folder or a named benchmark with its first-stage run.

    The run is ``run`` (a TREC file) when given; for a folder that ships a run, that run (as
    :meth:`Dataset.load` picks it) unless ``first_stage="bm25s"``; otherwise BM25 top-``depth``
    from bm25s over the whole corpus (index cached under ``cache_dir``). Excluded documents
    (BRIGHT) are removed from the run either way.
    """
    if first_stage not in ("auto", "bm25s"):
        raise InvalidInputError(f"first_stage must be 'auto' or 'bm25s', got {first_stage!r}")
    if run is not None and first_stage == "bm25s":
        raise InvalidInputError("give either a run file or first_stage='bm25s', not both")
    ref = resolve(str(name))
    if ref.kind == "folder" and first_stage == "auto" and (run is not None or _has_run(Path(ref.id))):
        return Dataset.load(ref.id, run=run)
    collection = load_collection(name, data_dir)
    if run is not None:
        run_path = Path(run)
        if not run_path.is_file():
            raise FileNotFoundError(f"first-stage run not found: {run_path}")
        first = collection.drop_excluded(read_trec_run(run_path))
        info = {"source": "file", "path": str(run_path)}
    else:
        first, run_path, info = bm25_run(collection, depth, settings=bm25 or Bm25Settings(), cache_dir=cache_dir,
                                         show_progress=show_progress)
    return _assemble(collection, first, run_path, info)


def _has_run(root: Path) -> bool:
    return any(root.glob("*.trec"))


def _assemble(collection: Collection, run, run_path: Path, info: dict) -> Dataset:
    """The Dataset of a collection and its run, with the passages the run points at."""
    unknown = sorted(set(run) - collection.queries.keys())
    if unknown:
        raise InvalidInputError(f"{run_path}: queries {unknown[:3]} are not in {collection.name}")
    wanted = {d for docs in run.values() for d, _ in docs}
    corpus = collection.get_docs(wanted)
    missing = wanted - corpus.keys()
    if missing:
        raise InvalidInputError(
            f"{run_path}: {len(missing)} docids are not in the corpus of {collection.name}, e.g. {sorted(missing)[:3]}"
        )
    info = {**info, "dataset": collection.source}
    return Dataset(collection.name, collection.queries, collection.qrels, run, corpus, run_path, info)


__all__ = [
    "ALIASES",
    "BRIGHT_TASKS",
    "Bm25Settings",
    "Collection",
    "DatasetRef",
    "bm25_run",
    "bright_collection",
    "folder_collection",
    "irds_collection",
    "load_collection",
    "load_dataset",
    "resolve",
]
