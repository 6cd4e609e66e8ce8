"""The benchmark: throughput, latency percentiles, tokens and the engine's share of the time."""
from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

from reasonrank.checks import check_positive
from reasonrank.data import Dataset
from reasonrank.errors import InvalidInputError
from reasonrank.evaluate.batching import chunks, progress
from reasonrank.evaluate.meter import EngineMeter
from reasonrank.evaluate.run import as_dataset
from reasonrank.methods.base import Reranker
from reasonrank.scheduling.layers import find_layer


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99, mean and max of ``values`` (numpy loads on first use)."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(arr.mean()), "max": float(arr.max())}


def benchmark(
    reranker: Reranker,
    dataset: Dataset | str | os.PathLike[str],
    *,
    top_k: int = 20,
    limit_queries: int | None = None,
    batch_size: int = 1,
    warmup: int = 0,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Time ``reranker`` on ``dataset``: throughput, latency percentiles, tokens, engine share.

    Queries are reranked ``batch_size`` at a time; a query's latency is the wall time of the
    batch it was in (with ``batch_size=1``, its own). ``warmup`` extra queries run first and
    are not counted (model load, compilation, caches).
    """
    check_positive("top_k", top_k)
    check_positive("batch_size", batch_size)
    if warmup < 0:
        raise InvalidInputError(f"warmup must be >= 0, got {warmup}")
    dataset = as_dataset(dataset, show_progress)
    qids = dataset.query_ids()
    measured = qids[:limit_queries] if limit_queries else qids
    if not measured:
        raise InvalidInputError(f"{dataset.name}: no judged queries to benchmark")
    # Warm up on queries outside the measured ones where there are any (no cache advantage).
    spare = qids[len(measured) : len(measured) + warmup] or measured[:warmup]
    reranker, engine = _metered(reranker)
    for qid in spare:
        item = dataset.item(qid, top_k)
        reranker.rerank_batch([(item.query, item.candidates)])
    engine.reset()
    per_query: list[dict[str, Any]] = []
    start = time.perf_counter()
    with progress(len(measured), 0, show_progress, f"bench {dataset.name}") as bar:
        for chunk in chunks(measured, batch_size):
            per_query += _time_batch(reranker, dataset, chunk, top_k)
            bar.update(len(chunk))
    total = time.perf_counter() - start
    return {
        "dataset": dataset.name,
        "first_stage": dataset.first_stage,
        "method": reranker.method,
        "engine": engine.name,
        "model": engine.model_name,
        "top_k": top_k,
        "batch_size": batch_size,
        **_timing_report(engine, per_query, total),
    }


def _time_batch(reranker: Reranker, dataset: Dataset, qids: Sequence[str], top_k: int) -> list[dict[str, Any]]:
    """Rerank one batch; one row per query with the batch's wall time as its latency."""
    items = [dataset.item(q, top_k) for q in qids]
    t0 = time.perf_counter()
    results = reranker.rerank_batch([(it.query, it.candidates) for it in items])
    latency = time.perf_counter() - t0
    return [
        {
            "query_id": it.query.id,
            "passages": len(it.candidates),
            "latency_seconds": latency,
            "completion_tokens": res.usage.completion_tokens,
            "prompt_tokens": res.usage.prompt_tokens,
            "warnings": len(res.warnings),
            "fallbacks": res.usage.fallbacks + res.usage.engine_fallbacks,
        }
        for it, res in zip(items, results, strict=True)
    ]


def _timing_report(engine: EngineMeter, per_query: list[dict[str, Any]], total: float) -> dict[str, Any]:
    """The measured part of the report (in its key order): rates, latency, the engine's time and tokens."""
    passages = sum(p["passages"] for p in per_query)
    busy = engine.busy_seconds
    return {
        "num_queries": len(per_query),
        "num_passages": passages,
        "total_seconds": total,
        "engine_seconds": busy,
        "overhead_seconds": max(total - busy, 0.0),
        "overhead_fraction": max(total - busy, 0.0) / total if total > 0 else 0.0,
        "queries_per_second": len(per_query) / total if total > 0 else 0.0,
        "passages_per_second": passages / total if total > 0 else 0.0,
        "latency_seconds": percentiles([p["latency_seconds"] for p in per_query]),
        "engine_calls": engine.calls,
        "engine_requests": engine.requests,
        "prompt_tokens": engine.prompt_tokens,
        "generated_tokens": engine.completion_tokens,
        "generated_tokens_per_second": engine.completion_tokens / busy if busy > 0 else 0.0,
        "queries_with_warnings": sum(1 for p in per_query if p["warnings"]),
        "per_query": per_query,
    }


__all__ = ["benchmark", "percentiles"]


def _metered(reranker: Reranker) -> tuple[Reranker, EngineMeter]:
    """The reranker to time and its :class:`EngineMeter`: the one it was built with
    (``RerankerSpec.build(layers=[EngineMeter])``, as ``reasonrank bench`` does). A reranker
    built without one is timed as a copy rebuilt with the metering layer
    (:meth:`Reranker.with_layers`; the caller's reranker is left as it is), with a DeprecationWarning."""
    found = find_layer(reranker.engine, EngineMeter)  # under the reply cache, if any
    if found is not None:
        return reranker, found
    warnings.warn("benchmark(): build the reranker with layers=[EngineMeter] (RerankerSpec.build); "
                  "metering an already built reranker is deprecated", DeprecationWarning, stacklevel=3)
    rebuilt = reranker.with_layers(EngineMeter)
    metered = find_layer(rebuilt.engine, EngineMeter)
    assert metered is not None
    return rebuilt, metered
