"""Named benchmarks as :class:`Collection`s: ir_datasets (TREC DL, BEIR) and BRIGHT (HF datasets).

Both libraries download on first use into their own caches (``IR_DATASETS_HOME``, default
``~/.ir_datasets``; ``HF_HOME``/``HF_DATASETS_CACHE``, default ``~/.cache/huggingface``). When
the data is neither cached nor downloadable, one :class:`DataUnavailableError` names what is
missing and how to provide it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reasonrank.datasets.collection import Collection
from reasonrank.errors import DataUnavailableError, ReasonRankError
from reasonrank.types import Candidate

BRIGHT_REPO = "xlangai/BRIGHT"

_FOLDER_HINT = (
    "or evaluate a local dataset folder instead of the name "
    "(queries.tsv, qrels.txt, corpus.jsonl, optionally a run.*.trec)"
)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataUnavailableError(
            f"named datasets need the {module} package: pip install 'reasonrank[datasets]'"
        ) from None


@contextlib.contextmanager
def _unavailable(what: str, how: str) -> Iterator[None]:
    """Turn a library's download/cache failure into one clear error (our own errors pass)."""
    try:
        yield
    except ReasonRankError:
        raise
    except Exception as exc:  # requests/hub/OS errors differ by library and version
        raise DataUnavailableError(f"{what} is not cached and could not be fetched ({_cause(exc)}). {how}") from exc


def _cause(exc: Exception) -> str:
    """One short line for a download failure (ir_datasets lists every mirror it tried)."""
    if len(exc.args) == 2 and isinstance(exc.args[1], list) and exc.args[1]:
        mirror, err = exc.args[1][0]  # ir_datasets: ('All download sources failed', [(mirror, error)])
        where = getattr(mirror, "url", None) or getattr(mirror, "_path", None) or mirror
        return f"{where}: {type(err).__name__}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


# -- ir_datasets -----------------------------------------------------------------------------
def _irds_doc(doc: Any) -> Candidate:
    title = getattr(doc, "title", None)
    return Candidate(id=str(doc.doc_id), text=doc.text, title=title if isinstance(title, str) and title else None)


def irds_collection(dataset_id: str) -> Collection:
    """An ir_datasets dataset with queries, qrels and docs (e.g. ``beir/scifact/test``)."""
    ir_datasets = _require("ir_datasets")
    home = os.environ.get("IR_DATASETS_HOME") or str(Path.home() / ".ir_datasets")
    how = (
        f"To provide it: ir_datasets keeps its downloads in IR_DATASETS_HOME ({home}); run once with network access "
        f"(e.g. `python -m ir_datasets export {dataset_id} queries`), copy that folder from a machine "
        f"that has it and point IR_DATASETS_HOME at it, {_FOLDER_HINT}"
    )
    ds = ir_datasets.load(dataset_id)
    for part in ("queries", "qrels", "docs"):
        if not getattr(ds, f"has_{part}")():
            raise DataUnavailableError(f"ir_datasets {dataset_id!r} has no {part}; name a split that has judgments")
    with _unavailable(f"ir_datasets {dataset_id!r} (queries and qrels)", how):
        queries = {str(q.query_id): q.text for q in ds.queries_iter()}
        qrels: dict[str, dict[str, int]] = {}
        for r in ds.qrels_iter():
            qrels.setdefault(str(r.query_id), {})[str(r.doc_id)] = int(r.relevance)

    def iter_docs() -> Iterator[Candidate]:
        with _unavailable(f"the corpus of ir_datasets {dataset_id!r}", how):
            for doc in ds.docs_iter():
                yield _irds_doc(doc)

    def get_docs(ids: Iterable[str]) -> dict[str, Candidate]:
        with _unavailable(f"the corpus of ir_datasets {dataset_id!r}", how):
            return {str(k): _irds_doc(d) for k, d in ds.docs_store().get_many(list(ids)).items()}

    return Collection(
        name=dataset_id, queries=queries, qrels=qrels,
        corpus_key=f"ir_datasets:{ir_datasets.docs_parent_id(dataset_id)}",
        iter_docs=iter_docs, get_docs=get_docs,
        source={"kind": "ir_datasets", "id": dataset_id},
    )


# -- BRIGHT ----------------------------------------------------------------------------------
def _bright_split(task: str, config: str, data_dir: str | os.PathLike[str] | None):
    """One task's rows of a BRIGHT config: from the hub (cached) or a local copy of the repo."""
    datasets = _require("datasets")
    if data_dir is not None:
        # The hub repo's layout: <config>/<task>-00000-of-00001.parquet
        files = sorted(Path(data_dir, config).glob(f"{task}-*.parquet"))
        if not files:
            raise DataUnavailableError(
                f"{Path(data_dir, config)} has no {task}-*.parquet; the folder must be a copy of the "
                f"{BRIGHT_REPO} dataset repo (`hf download {BRIGHT_REPO} --repo-type dataset --local-dir DIR`)"
            )
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Read in memory: a local copy needs no second copy in the HF cache.
        return datasets.Dataset(pa.concat_tables([pq.read_table(f) for f in files]))
    return datasets.load_dataset(BRIGHT_REPO, config, split=task)


def bright_collection(task: str, data_dir: str | os.PathLike[str] | None = None) -> Collection:
    """A BRIGHT task: ``examples`` (``id``, ``query``, ``gold_ids``, ``excluded_ids``) and
    ``documents`` (``id``, ``content``). Gold ids are relevance 1; excluded ids (``"N/A"`` is
    BRIGHT's "none") are removed from every run, as BRIGHT's ``run.py`` requires."""
    where = f"{data_dir}" if data_dir is not None else f"the HF hub dataset {BRIGHT_REPO} (HF_HOME cache)"
    how = (
        "To provide it: run once with network access so HF datasets caches it (HF_HOME, default ~/.cache/huggingface), "
        f"download the repo elsewhere (`hf download {BRIGHT_REPO} --repo-type dataset --local-dir DIR`) "
        f"and pass it with --data-dir DIR (data_dir=), {_FOLDER_HINT}"
    )
    with _unavailable(f"BRIGHT task {task!r} from {where}", how):
        examples = _bright_split(task, "examples", data_dir)
        documents = _bright_split(task, "documents", data_dir)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    excluded: dict[str, set[str]] = {}
    for row in examples:
        qid = str(row["id"])
        queries[qid] = row["query"]
        qrels[qid] = {str(g): 1 for g in row["gold_ids"]}
        drop = {str(e) for e in row.get("excluded_ids") or () if e != "N/A"}
        if drop:
            excluded[qid] = drop
    doc_ids = [str(i) for i in documents["id"]]
    row_of = {d: i for i, d in enumerate(doc_ids)}

    def iter_docs() -> Iterator[Candidate]:
        for row in documents:
            yield Candidate(id=str(row["id"]), text=row["content"])

    def get_docs(ids: Iterable[str]) -> dict[str, Candidate]:
        rows = sorted(row_of[d] for d in set(ids) if d in row_of)
        picked = documents.select(rows)
        return {str(i): Candidate(id=str(i), text=t) for i, t in zip(picked["id"], picked["content"])}

    return Collection(
        name=f"bright/{task}", queries=queries, qrels=qrels,
        corpus_key=f"bright:{task}:{getattr(documents, '_fingerprint', '')}:{len(doc_ids)}",
        iter_docs=iter_docs, get_docs=get_docs, excluded=excluded,
        source={"kind": "bright", "task": task, "data_dir": str(data_dir) if data_dir else BRIGHT_REPO},
    )
