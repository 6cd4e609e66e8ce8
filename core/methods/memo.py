"""The result cache's front: a repeated query answered whole, before any preparation.

The engine-level cache (:mod:`reasonrank.scheduling.cache`) spares the model; a repeated query
would still pay the method's preparation (passage cleaning and cutting, prompt building, the
scheduler). When the reranker's engine has a cache layer, the whole result of a query is kept
too (in memory, beside the engine replies), keyed by everything the engine key holds (model
identity, namespace, the request scope of ``serve``) plus the method, its settings, the query
and the candidates. A hit is a copy of the earlier result whose ``usage`` says what it cost now:
no engine call, every engine request of the original counted as a cache hit. Results with a
fallback or an engine failure are never kept; neither are sampled runs without a seed.
"""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from reasonrank.scheduling.cache import CachedEngine, cache_scope, find_cache
from reasonrank.types import RerankResult, Usage

if TYPE_CHECKING:  # pragma: no cover
    from reasonrank.methods.base import Prepared, Reranker

# Attributes that do not change a reranker's answers (or are the engine itself).
_IGNORED = {"engine", "_engine", "last_stats", "show_progress", "max_batch_size", "max_concurrency", "schedule",
            "_result_memo"}
_LOCK = threading.Lock()


def _memo(cached: CachedEngine) -> OrderedDict[str, RerankResult]:
    with _LOCK:
        memo = cached.__dict__.get("_results")
        if memo is None:
            memo = cached.__dict__["_results"] = OrderedDict()
        return memo


def _key(cached: CachedEngine, reranker: Reranker, item: Prepared) -> str | None:
    params = getattr(reranker, "params", None)
    if params is not None and params.temperature > 0 and params.seed is None and not cached.cache_sampled:
        return None  # a fresh sample was asked for
    config = {k: v for k, v in vars(reranker).items() if k not in _IGNORED}
    query, cands = item
    scope = f"{cached.namespace}\x00{cache_scope.get()}"
    from reasonrank.scheduling.cache import request_key

    return request_key(cached.identity, scope, f"result:{type(reranker).__qualname__}",
                       {"query": query, "candidates": cands}, config)


def _hit(result: RerankResult) -> RerankResult:
    out = copy.deepcopy(result)
    spent = result.usage
    out.usage = Usage(cache_hits=spent.cache_hits + spent.cache_misses or spent.engine_calls,
                      forced_answers=spent.forced_answers, thinking_tokens=spent.thinking_tokens)
    out.seconds = 0.0
    return out


def _keep(result: Any) -> bool:
    return (isinstance(result, RerankResult) and not result.usage.fallbacks
            and not result.usage.engine_fallbacks)


def _split(reranker: Reranker, items: list[Prepared]) -> tuple[list[Any], list[str | None], list[int]]:
    cached = find_cache(reranker.engine)
    keys: list[str | None] = [None] * len(items)
    results: list[Any] = [None] * len(items)
    if cached is None:
        return results, keys, list(range(len(items)))
    memo = _memo(cached)
    todo = []
    for i, item in enumerate(items):
        keys[i] = key = _key(cached, reranker, item)
        with _LOCK:
            found = memo.get(key) if key is not None else None
            if found is not None:
                memo.move_to_end(key)  # type: ignore[arg-type]
        if found is not None:
            results[i] = _hit(found)
        else:
            todo.append(i)
    return results, keys, todo


def _store(reranker: Reranker, keys: list[str | None], todo: list[int], fresh: list[Any],
           results: list[Any]) -> list[Any]:
    cached = find_cache(reranker.engine)
    for i, result in zip(todo, fresh, strict=True):
        results[i] = result
        key = keys[i]
        if cached is not None and key is not None and _keep(result):
            memo = _memo(cached)
            with _LOCK:
                memo[key] = copy.deepcopy(result)
                while len(memo) > 1024:
                    memo.popitem(last=False)
    return results


def memoized_run(reranker: Reranker, items: list[Prepared],
                 run: Callable[[Reranker, list[Prepared]], list[Any]]) -> list[Any]:
    """``run(reranker, items)`` for the queries not answered whole from the memo."""
    results, keys, todo = _split(reranker, items)
    fresh = run(reranker, [items[i] for i in todo]) if todo else []
    return _store(reranker, keys, todo, fresh, results)


async def amemoized_run(reranker: Reranker, items: list[Prepared],
                        run: Callable[[Reranker, list[Prepared]], Awaitable[list[Any]]]) -> list[Any]:
    """Async :func:`memoized_run`."""
    results, keys, todo = _split(reranker, items)
    fresh = await run(reranker, [items[i] for i in todo]) if todo else []
    return _store(reranker, keys, todo, fresh, results)


__all__ = ["amemoized_run", "memoized_run"]
