"""The whole-result memo: a repeated query answered whole, before any preparation.

The engine-reply cache (:mod:`reasonrank.cache.replies`) spares the model; this memo spares a
repeated query the method's preparation too (passage cleaning and cutting, prompt building, the
scheduler). A cache layer owns one :class:`ResultMemo` (``CachedEngine.results``), so it lives as
long as the cache and is shared by every reranker built on that layer. Its in-memory tier is a
:class:`~reasonrank.lru.LRUCache`, like the reply cache's.

A result is keyed by everything the engine key holds (model identity, namespace, the request
scope of ``serve``) plus the reranker's declared settings
(:meth:`~reasonrank.methods.base.Reranker.result_settings`), the query and the candidates. A hit
is a copy of the earlier result whose ``usage`` says what it cost now: no engine call, every
engine request of the original counted as a cache hit. A repeat that arrives while its original
still runs (another thread, another coroutine, or the same batch) waits for it
(:class:`~reasonrank.scheduling.single_flight.SingleFlight`) instead of preparing the query
again. Results with a fallback or an engine failure are never kept (a repeat waiting on one
computes its own); neither are sampled runs without a seed.
"""
from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reasonrank.cache.keys import cache_scope, request_key
from reasonrank.lru import LRUCache
from reasonrank.scheduling.single_flight import Abandoned, Claim, SingleFlight
from reasonrank.types import RerankResult, Usage

if TYPE_CHECKING:  # pragma: no cover
    from reasonrank.cache.replies import CachedEngine
    from reasonrank.methods.base import Prepared, Reranker

Run = Callable[["Reranker", list["Prepared"]], list[Any]]
ARun = Callable[["Reranker", list["Prepared"]], Awaitable[list[Any]]]


def as_hit(result: RerankResult) -> RerankResult:
    """A copy of a kept ``result`` as a repeat gets it: what it cost now is no engine call,
    every engine request of the original counted as a cache hit."""
    out = copy.deepcopy(result)
    spent = result.usage
    out.usage = Usage(cache_hits=spent.cache_hits + spent.cache_misses or spent.engine_calls,
                      forced_answers=spent.forced_answers, thinking_tokens=spent.thinking_tokens)
    out.seconds = 0.0
    return out


class ResultMemo:
    """Kept results by key (at most ``max_entries``, least recently used dropped first), and the
    keys whose results are being computed now (:attr:`flights`). ``count(hits, coalesced)`` is
    told of every query answered whole (``coalesced``: by its original still in flight)."""

    def __init__(self, max_entries: int = 1024, count: Callable[[int, int], None] | None = None) -> None:
        self._kept: LRUCache[str, RerankResult] = LRUCache(max_entries)
        self.flights: SingleFlight[str, RerankResult] = SingleFlight()
        self.count = count or (lambda hits, coalesced: None)

    def kept(self, key: str) -> RerankResult | None:
        """The private copy kept under ``key`` (handed to waiters, never to a caller), or None."""
        return self._kept.get(key)

    def hit(self, kept: RerankResult) -> RerankResult:
        """A caller's copy of a kept result, counted as a hit."""
        self.count(1, 0)
        return as_hit(kept)

    def copy_for_repeat(self, result: RerankResult) -> RerankResult:
        """``result`` (just computed, or waited for) as a repeat of its query gets it."""
        self.count(1, 1)
        return as_hit(result)

    def put(self, key: str, result: RerankResult) -> RerankResult:
        """Keep a private copy of ``result`` (later changes to the caller's object do not reach
        it) and return that copy."""
        private = copy.deepcopy(result)
        self._kept.put(key, private)
        return private

    def __len__(self) -> int:
        return len(self._kept)


def _keys(cached: CachedEngine, reranker: Reranker, items: list[Prepared]) -> list[str | None]:
    """Each query's memo key (None: not memoised); the settings and scope are read once a batch."""
    params = getattr(reranker, "params", None)
    if params is not None and params.temperature > 0 and params.seed is None and not cached.cache_sampled:
        return [None] * len(items)  # a fresh sample was asked for
    scope = f"{cached.namespace}\x00{cache_scope.get()}"
    settings = reranker.result_settings()
    return [request_key(cached.identity, scope, "result", {"query": query, "candidates": cands}, settings)
            for query, cands in items]


def _keep(result: Any) -> bool:
    return (isinstance(result, RerankResult) and not result.usage.fallbacks
            and not result.usage.engine_fallbacks)


@dataclass
class _Batch:
    """One batch's queries: who computes what (``todo``: item positions sent to the method),
    the flights it leads or waits on, and every position's result so far."""

    memo: ResultMemo
    keys: list[str | None]
    claim: Claim[str, RerankResult]
    results: list[Any]
    todo: list[int] = field(default_factory=list)
    copies: dict[int, int] = field(default_factory=dict)  # a repeat within the batch -> its first

    def store(self, fresh: list[Any]) -> list[int]:
        """Place the method's results, keep what may be kept, end this batch's flights; the
        positions still without a result (repeats of a result not kept) are returned."""
        for i, result in zip(self.todo, fresh, strict=True):
            self.results[i] = result
            key = self.keys[i]
            if key is None:
                continue
            kept = self.memo.put(key, result) if _keep(result) else None
            if key in self.claim.lead:  # waiters get the private copy, never this caller's object
                self.memo.flights.settle(key, kept if kept is not None else Abandoned())
        again = []
        for i, first in self.copies.items():
            if self.keys[first] in self.claim.waits:
                continue  # another caller computes it: waited for with its first
            if _keep(self.results[first]):
                self.results[i] = self.memo.copy_for_repeat(self.results[first])
            else:
                again.append(i)
        return again

    def fail(self, exc: BaseException) -> None:
        self.memo.flights.fail(self.claim.lead, exc)


def _plan(reranker: Reranker, items: list[Prepared], *, blocking: bool) -> _Batch | None:
    from reasonrank.cache.replies import find_cache  # the reply cache owns the memo

    cached = find_cache(reranker.engine)
    if cached is None:
        return None
    memo = cached.results
    keys = _keys(cached, reranker, items)
    firsts: dict[str, int] = {}
    copies: dict[int, int] = {}
    for i, key in enumerate(keys):
        if key is not None:
            if key in firsts:
                copies[i] = firsts[key]
            else:
                firsts[key] = i
    batch = _Batch(memo, keys, memo.flights.claim(firsts, blocking=blocking), [None] * len(items), copies=copies)
    for i, key in enumerate(keys):
        if key is None:
            batch.todo.append(i)
        elif i in copies or key in batch.claim.waits:
            continue
        elif (kept := memo.kept(key)) is not None:
            batch.results[i] = memo.hit(kept)
            if key in batch.claim.lead:
                batch.claim.lead.discard(key)
                memo.flights.settle(key, kept)
        else:
            batch.todo.append(i)
    return batch


def memoized_run(reranker: Reranker, items: list[Prepared], run: Run) -> list[Any]:
    """``run(reranker, items)`` for the queries not answered whole from the memo (or by a
    repeat's original still running)."""
    batch = _plan(reranker, items, blocking=True)
    if batch is None:
        return run(reranker, items)
    try:
        fresh = run(reranker, [items[i] for i in batch.todo]) if batch.todo else []
    except BaseException as exc:
        batch.fail(exc)
        raise
    again = batch.store(fresh)
    for key, future in batch.claim.waits.items():
        for i in _positions(batch, key):
            try:
                batch.results[i] = batch.memo.copy_for_repeat(SingleFlight.wait(future))
            except Abandoned:
                again.append(i)
    if again:  # repeats whose original gave nothing to keep: each computes its own
        for i, result in zip(again, run(reranker, [items[i] for i in again]), strict=True):
            batch.results[i] = result
    return batch.results


async def amemoized_run(reranker: Reranker, items: list[Prepared], run: ARun) -> list[Any]:
    """Async :func:`memoized_run`."""
    batch = _plan(reranker, items, blocking=False)
    if batch is None:
        return await run(reranker, items)
    try:
        fresh = await run(reranker, [items[i] for i in batch.todo]) if batch.todo else []
    except BaseException as exc:
        batch.fail(exc)
        raise
    again = batch.store(fresh)
    for key, future in batch.claim.waits.items():
        for i in _positions(batch, key):
            try:
                batch.results[i] = batch.memo.copy_for_repeat(await SingleFlight.await_(future))
            except Abandoned:
                again.append(i)
    if again:
        for i, result in zip(again, await run(reranker, [items[i] for i in again]), strict=True):
            batch.results[i] = result
    return batch.results


def _positions(batch: _Batch, key: str) -> list[int]:
    """The positions of ``key`` (another caller computes it): its first and its repeats."""
    return [i for i, k in enumerate(batch.keys) if k == key]


__all__ = ["ResultMemo", "amemoized_run", "as_hit", "memoized_run"]
