"""The evaluation run: rerank a dataset's queries in batches into a resumable results file.

:func:`evaluate` reranks each query's first-stage top-k, appending one JSON line per finished
query to ``results.jsonl`` (so a crashed or interrupted run resumes where it stopped), then
writes the reranked TREC run and the metrics of the first stage and the reranker side by side.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from reasonrank.data import Dataset
from reasonrank.errors import InvalidInputError
from reasonrank.evaluate.batching import chunks, progress
from reasonrank.evaluate.report import finalize
from reasonrank.evaluate.results_file import RESULTS_FILE, append_result, check_config, load_results
from reasonrank.methods.base import Reranker, check_positive
from reasonrank.metrics import DEFAULT_MEASURES, parse_measures

BatchCallback = Callable[[list[dict[str, Any]]], None]


def as_dataset(dataset: Dataset | str | os.PathLike[str], show_progress: bool = True) -> Dataset:
    """A :class:`Dataset` as is; a folder or benchmark name (``dl19``, ``beir/scifact``,
    ``bright/biology``) loaded by :func:`reasonrank.datasets.load_dataset` with its defaults."""
    if isinstance(dataset, Dataset):
        return dataset
    from reasonrank.datasets import load_dataset

    return load_dataset(dataset, show_progress=show_progress)


def run_config(
    reranker: Reranker, dataset: Dataset, top_k: int, extra: dict[str, Any] | None
) -> dict[str, Any]:
    """The settings recorded in ``eval_config.json`` (see :data:`RESUME_KEYS`)."""
    return {
        "dataset": dataset.name,
        "first_stage_run": dataset.run_path.name if dataset.run_path else None,
        "top_k": top_k,
        # A reranker with a smaller depth of its own (e.g. a preset's 20) reranks only that many.
        "reranker_depth": getattr(reranker, "depth", None),
        "method": reranker.method,
        "model": reranker.engine.model_name,
        "engine": reranker.engine.name,
        "first_stage": dataset.first_stage,
        **(extra or {}),
    }


def evaluate(
    reranker: Reranker,
    dataset: Dataset | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    top_k: int = 100,
    limit_queries: int | None = None,
    batch_size: int = 8,
    measures: Sequence[str] = DEFAULT_MEASURES,
    show_progress: bool = True,
    extra_config: dict[str, Any] | None = None,
    on_batch: BatchCallback | None = None,
) -> dict[str, Any]:
    """Rerank ``dataset`` and write ``results.jsonl``, ``run.reranked.trec`` and ``metrics.json``.

    Queries already in ``results.jsonl`` are not reranked again. Queries go to
    :meth:`Reranker.rerank_batch` ``batch_size`` at a time; each finished query is appended
    and synced before the next batch. A query that fails (an engine error under
    ``on_error="raise"``, a :class:`ParseError` in strict mode) stops the run only after the
    other finished queries of its batch are saved, so a rerun resumes with nothing lost.

    The reranked run is the reranked top-``top_k`` followed by the rest of the first-stage list,
    so deep measures (``R@100``) compare like with like. Returns the metrics document.
    """
    check_positive("top_k", top_k)
    check_positive("limit_queries", limit_queries)
    check_positive("batch_size", batch_size)
    parse_measures(measures)  # fail before any model call
    dataset = as_dataset(dataset, show_progress)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    qids = dataset.query_ids(limit_queries)
    if not qids:
        raise InvalidInputError(f"{dataset.name}: no judged queries in the first-stage run")
    config = run_config(reranker, dataset, top_k, extra_config)
    results_path = out / RESULTS_FILE
    done = load_results(results_path)
    check_config(out, config, resuming=bool(done))
    todo = [q for q in qids if q not in done]
    with results_path.open("a", encoding="utf-8") as fh, progress(
        len(qids), len(qids) - len(todo), show_progress, f"rerank {dataset.name}"
    ) as bar:
        for chunk in chunks(todo, batch_size):
            records, failure = _rerank_and_save(reranker, dataset, chunk, top_k, fh, done)
            bar.update(len(records))
            if on_batch:
                on_batch(records)
            if failure is not None:
                raise failure  # the batch's finished queries are on disk already
    return finalize(dataset, out, qids, done, top_k=top_k, measures=measures, config=config)


def _rerank_and_save(
    reranker: Reranker,
    dataset: Dataset,
    qids: Sequence[str],
    top_k: int,
    fh: IO[str],
    done: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """Rerank one batch and append each finished query to ``fh`` and ``done``.

    Returns the batch's finished records and its first failure, if any, for the caller to
    raise once the finished ones are reported.
    """
    items = [dataset.item(q, top_k) for q in qids]
    results = reranker.rerank_batch([(it.query, it.candidates) for it in items], return_exceptions=True)
    records = []
    failures = [r for r in results if isinstance(r, BaseException)]
    for it, res in zip(items, results, strict=True):
        if isinstance(res, BaseException):
            continue
        record = res.to_dict()
        record["query_id"] = it.query.id
        append_result(fh, record)
        done[it.query.id] = record  # type: ignore[index]  # a dataset query always has an id
        records.append(record)
    return records, (failures[0] if failures else None)


__all__ = ["as_dataset", "evaluate", "run_config"]
