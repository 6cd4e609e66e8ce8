"""The Ray Data actor: one reranker per replica, built once, fed batches of query rows.

Ray Data constructs :class:`RerankActor` once per replica (``map_batches(RerankActor,
concurrency=N, ...)``); the engine — an in-process vLLM on the replica's GPUs, the embedded
model, or a client of a served fleet — is built in ``__init__`` and reused for every batch.
Inside a batch, queries go through :meth:`Reranker.rerank_batch`, which pipelines their windows
through the engine. No ranking logic lives here.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Collection
from typing import Any

from reasonrank.deprecation import renamed_keyword
from reasonrank.distributed.rows import parse_row
from reasonrank.errors import ReasonRankError
from reasonrank.methods.base import Reranker
from reasonrank.spec import RerankerSpec
from reasonrank.types import RerankResult


def result_record(result: RerankResult, query_id: str) -> dict[str, Any]:
    """One ``results.jsonl`` record, exactly as ``reasonrank eval`` writes it."""
    record = result.to_dict()
    record["query_id"] = query_id
    return record


def _table(qids: list, records: list, errors: list | None = None, *, busy: float = 0.0,
           init: float = 0.0, replica: str = "") -> Any:
    """The output rows of one batch; the batch's seconds are spread over its rows, the
    replica's start-up seconds ride on its first row (the driver sums both)."""
    import pyarrow as pa

    n = len(qids)
    return pa.table({
        "query_id": pa.array(qids, pa.string()),
        "record": pa.array(records, pa.string()),
        "error": pa.array(errors or [None] * n, pa.string()),
        "busy_seconds": pa.array([busy / n if n else 0.0] * n, pa.float64()),
        "init_seconds": pa.array([init if i == 0 else 0.0 for i in range(n)], pa.float64()),
        "replica": pa.array([replica] * n, pa.string()),
    })


def _error_table(exc: Exception) -> Any:
    """A replica's error as data: Ray would wrap the exception and lose its type on the way
    back, so the driver re-raises the same library error class (the CLI's exit code 2 or 3)."""
    message = str(exc) if isinstance(exc, ReasonRankError) else f"{type(exc).__name__}: {exc}"
    return _table([None], [None], [json.dumps({"type": type(exc).__name__, "message": message})])


def raise_replica_error(payload: str) -> None:
    """Raise, on the driver, the library error a replica sent back (see :class:`RerankActor`)."""
    from reasonrank import errors

    info = json.loads(payload)
    cls = getattr(errors, info.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.ReasonRankError)):
        cls = errors.EngineError  # another exception can only come from building the engine
    raise cls(f"on a replica: {info.get('message', '')}")


class ReplicaCounter:
    """Hands out replica numbers (a Ray actor of the driver), so replicas spread over the
    endpoints of a served fleet; a restarted replica takes the next number."""

    def __init__(self) -> None:
        self.count = -1

    def next(self) -> int:
        self.count += 1
        return self.count


class RerankActor:
    """Ray Data callable class: query rows in, ``{query_id, record}`` rows out.

    ``counter`` (a :class:`ReplicaCounter` actor) numbers the replicas when the spec lists
    several endpoints. ``candidates_per_query`` keeps each row's first K candidates (``top_k``
    is its deprecated name). ``todo`` is the set of query ids this run must rerank; rows outside it (already written by
    an earlier run, or beyond ``--limit-queries``) are skipped, so resuming costs no model call.
    A row is a JSON string in the ``text`` column (JSONL lines) or a row of ``query_id``,
    ``query`` and ``candidates`` columns (Parquet).
    """

    def __init__(
        self,
        factory: Callable[[], Reranker],
        todo: Collection[str] | None = None,
        candidates_per_query: int | None = None,
        counter: Any = None,
        **deprecated: Any,
    ) -> None:
        start = time.perf_counter()
        candidates_per_query = renamed_keyword(deprecated, "top_k", "candidates_per_query", candidates_per_query,
                                               where="RerankActor: ")
        if counter is not None and isinstance(factory, RerankerSpec):
            import ray

            factory = factory.for_replica(ray.get(counter.next.remote()))
        self.todo = frozenset(todo) if todo is not None else None
        self.candidates_per_query = candidates_per_query
        self.error: Exception | None = None
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        try:
            self.reranker = factory()
        except Exception as exc:  # noqa: BLE001 - a replica that cannot build its engine
            # (model missing, vLLM not installed...) would be restarted forever by Ray: keep
            # the error and report it with the first batch instead.
            self.error = exc
        self.init_seconds = time.perf_counter() - start  # reported once, with the first batch

    def __call__(self, batch: Any) -> Any:
        start = time.perf_counter()
        items = []
        for n, row in enumerate(batch.to_pylist()):
            obj = json.loads(row["text"]) if "text" in row else row
            query, candidates = parse_row(obj, f"row {n} of a batch")
            if self.todo is not None and query.id not in self.todo:
                continue
            cut = self.candidates_per_query
            items.append((query, candidates[:cut] if cut else candidates))
        if not items:
            return _table([], [])
        if self.error is not None:
            return _error_table(self.error)
        try:
            results = self.reranker.rerank_batch(items)
        except ReasonRankError as exc:
            return _error_table(exc)
        qids = [q.id or "" for q, _ in items]  # parse_row always gives an id
        records = [json.dumps(result_record(r, q), ensure_ascii=False) for r, q in zip(results, qids)]
        init, self.init_seconds = self.init_seconds, 0.0
        return _table(qids, records, busy=time.perf_counter() - start, init=init, replica=self.replica)

    def __del__(self) -> None:
        engine = getattr(getattr(self, "reranker", None), "engine", None)
        if engine is not None:
            with contextlib.suppress(Exception):  # closing at interpreter exit must not raise
                engine.close()


__all__ = ["ReplicaCounter", "RerankActor", "RerankerSpec", "raise_replica_error", "result_record"]
