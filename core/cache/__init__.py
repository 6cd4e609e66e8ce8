"""Caching: the two things the library keeps so that repeated work costs nothing.

- The **engine-reply cache** (:mod:`reasonrank.cache.replies`, :class:`CachedEngine`): an engine
  layer answering a request it has seen before (a listwise window, a pointwise pair, an
  attention readout, an encoding) without the engine; in memory, and on disk behind
  ``--cache DIR`` (:mod:`reasonrank.cache.stores`). Keys: :mod:`reasonrank.cache.keys` (model
  identity, with :mod:`reasonrank.cache.fingerprint` remembering local weights' hashes).
- The **whole-result memo** (:mod:`reasonrank.cache.results`, :class:`ResultMemo`): a repeated
  query answered whole before any preparation; owned by the reply cache's layer.

Both in-memory tiers are :class:`~reasonrank.lru.LRUCache` s; both coalesce identical work in
flight with :class:`~reasonrank.scheduling.single_flight.SingleFlight`. Tokenizer results on a
served model are memoised by the reply cache too (:mod:`reasonrank.cache.tokens`).
"""
from __future__ import annotations

from reasonrank.cache.keys import KEY_VERSION, cache_scope, model_identity, request_key
from reasonrank.cache.replies import CachedEngine, CacheOption, CacheStats, cache_layer, find_cache
from reasonrank.cache.results import ResultMemo
from reasonrank.cache.stores import DiskStore, MemoryStore, Store, TieredStore

__all__ = [
    "KEY_VERSION",
    "CacheOption",
    "CacheStats",
    "CachedEngine",
    "DiskStore",
    "MemoryStore",
    "ResultMemo",
    "Store",
    "TieredStore",
    "cache_layer",
    "cache_scope",
    "find_cache",
    "model_identity",
    "request_key",
]
