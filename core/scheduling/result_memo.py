"""The whole-result memo's store: finished results of queries, by key, in memory.

The engine-reply cache (:class:`~reasonrank.scheduling.cache.CachedEngine`) spares the model;
this memo spares a repeated query the method's preparation too (passage cleaning and cutting,
prompt building, the scheduler). A cache layer owns one (``CachedEngine.results``), so it lives
as long as the cache and is shared by every reranker built on that layer; the orchestration
(which key a query has, what is kept) is :mod:`reasonrank.methods.memo`.

Its in-memory tier is a :class:`~reasonrank.lru.LRUCache`, like the reply cache's; a
:class:`~reasonrank.scheduling.single_flight.SingleFlight` lets a repeat that arrives while its
original still runs wait for that result instead of preparing the query a second time.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

from reasonrank.lru import LRUCache
from reasonrank.scheduling.single_flight import SingleFlight
from reasonrank.types import RerankResult, Usage


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

    def get(self, key: str) -> RerankResult | None:
        """A copy of the result kept under ``key`` (as a hit), or None."""
        found = self._kept.get(key)
        if found is None:
            return None
        self.count(1, 0)
        return as_hit(found)

    def copy_for_repeat(self, result: RerankResult) -> RerankResult:
        """``result`` (just computed, or waited for) as a repeat of its query gets it."""
        self.count(1, 1)
        return as_hit(result)

    def put(self, key: str, result: RerankResult) -> None:
        """Keep a private copy of ``result`` (later changes to the caller's object do not reach it)."""
        self._kept.put(key, copy.deepcopy(result))

    def __len__(self) -> int:
        return len(self._kept)


__all__ = ["ResultMemo", "as_hit"]
