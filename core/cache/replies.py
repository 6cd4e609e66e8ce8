"""The engine-reply cache: an engine layer that answers a request it has seen before without the
engine, so every method, entry point and engine gains from it.

The key (:func:`request_key`) covers everything that can change a reply: the engine kind; the
model's identity (:func:`model_identity`: the model name and revision, a local model file's or
folder's full SHA-256, memoised per file version (:mod:`reasonrank.cache.fingerprint`), a
server's base URL, what its ``/v1/models`` reports, template and extra request settings); the
identity is computed once, when the layer is built (off any event loop), and a server whose
``/models`` does not answer then is logged as a warning and keyed by its URL and model name; a user-set ``namespace`` (for servers that swap weights under one name, or one
namespace per API key in ``serve``); the exact request (messages and assistant prefix, or an
attention request's segments and probes); the sampling parameters with the seed, or the choices
scored. Generation with ``temperature > 0`` and no seed is not cached (a fresh sample is what
was asked for) unless ``cache_sampled=True``. Only replies are stored: an engine error raises
through and stores nothing; a method's fallback (input order kept) is not an engine reply.

Identical requests in flight are coalesced (single flight): a request whose key another caller
(a thread or a coroutine, on any event loop) is computing waits for that engine call and gets a
copy of its reply instead of calling the engine again, and repeats within one batch call reach
the engine once. If that call fails, every waiter gets the same exception and nothing is stored;
if its caller is cancelled instead (a request timing out in ``serve``), the waiters compute the
request themselves. A caller computes what it leads before it waits on anyone, and never waits
on itself, so no cycle can form; a sync caller never blocks the event loop its leader runs on.
Requests that bypass the cache (sampled, no seed) are not coalesced either.

A hit (from the store or from a request in flight) comes back marked ``cached=True`` with
``seconds=0``; the scheduler's runner counts hits and misses per query into ``result.usage``
(``cache_hits``, ``cache_misses``). :class:`CacheStats` counts the layer's hits, misses,
bypassed and coalesced requests (``serve``: ``/v1/stats`` and ``/metrics``).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from reasonrank.cache.keys import (
    KEY_VERSION,
    cache_scope,
    decode,
    encode,
    file_fingerprint,
    jsonable,
    model_identity,
    request_key,
    served_models,
)
from reasonrank.cache.results import ResultMemo
from reasonrank.cache.stores import DiskStore, MemoryStore, Store, TieredStore
from reasonrank.cache.tokens import TokenMemo
from reasonrank.engines import base
from reasonrank.errors import EngineError
from reasonrank.scheduling.layers import EngineWrapper, find_layer
from reasonrank.scheduling.shared import RequestCancelled
from reasonrank.scheduling.single_flight import Abandoned, Claim, SingleFlight, running_loop

_A = TypeVar("_A", base.Generation, base.ChoiceDistribution, base.AttentionReadout, base.Encoding)


@dataclasses.dataclass
class CacheStats:
    """Hits, misses and requests not cached (sampled without a seed) so far. ``coalesced``
    counts the hits that were not in the store yet: a request answered by another caller's
    engine call still in flight, or a duplicate within one call (each also counts as a hit).
    ``result_hits`` counts queries answered whole by the result memo, ``result_coalesced``
    those of them that waited for their original still running (they reach no engine layer)."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    coalesced: int = 0
    result_hits: int = 0
    result_coalesced: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _abandons(exc: BaseException) -> bool:
    """A leader's failure that is its own, not the request's: its cancellation (a ``serve``
    request timing out, an interrupt). Its waiters then compute the request themselves."""
    return isinstance(exc, RequestCancelled) or not isinstance(exc, Exception)


@dataclasses.dataclass
class _Plan:
    """One call's requests by key: its share of the flights (``claim``: the keys it leads, those
    it computes unpublished, those it waits for), and the replies known so far: ``own`` (the
    objects for each key's first position) and ``data`` (encoded, copied to every other position)."""

    positions: dict[str, list[int]]
    claim: Claim[str, bytes]
    own: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def todo(self) -> list[str]:
        """The keys this call sends to the engine, in request order."""
        return sorted(self.claim.lead | self.claim.solo, key=lambda k: self.positions[k][0])

    def firsts(self, keys: Sequence[str], requests: Sequence[Any]) -> list[Any]:
        return [requests[self.positions[k][0]] for k in keys]


class CachedEngine(EngineWrapper):
    """An engine layer serving repeated requests from a :class:`Store` (memory, or disk too),
    and coalescing identical requests in flight (see the module docstring)."""

    def __init__(self, inner: base.Engine, store: Store | None = None, *, namespace: str = "",
                 cache_sampled: bool = False) -> None:
        super().__init__(inner)
        self.store: Store = store if store is not None else MemoryStore()
        self.namespace = namespace
        self.cache_sampled = cache_sampled
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self.flights: SingleFlight[str, bytes] = SingleFlight(_abandons)  # keys being computed now
        self.results = ResultMemo(count=self._count_results)  # whole results (reasonrank.cache.results)
        self._tokens = TokenMemo()
        self._identity: Future[str] = Future()
        self._start_identity()

    # -- the model identity: known before the first request -----------------------------------
    def _start_identity(self) -> None:
        """Compute the identity now, as the reranker is built (a served model's ``/models`` is
        asked, a local model's weights hashed, once): in this thread when no event loop runs in
        it, else in a worker thread, so that an event loop never waits on it."""
        if running_loop() is None:
            self._compute_identity()
        else:
            threading.Thread(target=self._compute_identity, name="reasonrank-cache-identity", daemon=True).start()

    def _compute_identity(self) -> None:
        try:
            self._identity.set_result(json.dumps(jsonable(model_identity(self.inner)), sort_keys=True, default=repr))
        except BaseException as exc:  # noqa: BLE001 - the first request raises it, as before
            self._identity.set_exception(exc)

    @property
    def identity(self) -> str:
        """The model identity (computed when this layer was built; waits if that is still running)."""
        return self._identity.result()

    async def aidentity(self) -> str:
        """:attr:`identity` without blocking the running event loop (``serve`` awaits it before
        it reports ready)."""
        if not self._identity.done():
            await asyncio.wrap_future(self._identity)
        return self._identity.result()

    def key(self, kind: str, request: Any, settings: Any) -> str:
        namespace = f"{self.namespace}\x00{cache_scope.get()}"
        return request_key(self.identity, namespace, kind, request, settings)

    # -- single flight: who computes which key ----------------------------------------------
    def _count(self, hits: int = 0, misses: int = 0, coalesced: int = 0) -> None:
        with self._lock:
            self.stats.hits += hits
            self.stats.misses += misses
            self.stats.coalesced += coalesced

    def _count_results(self, hits: int, coalesced: int) -> None:
        with self._lock:
            self.stats.result_hits += hits
            self.stats.result_coalesced += coalesced

    def _plan(self, kind: str, requests: Sequence[Any], settings: Any, *, blocking: bool) -> _Plan:
        """Claim every key no one is computing; wait on the others. A key is claimed before the
        store is read, so a request arriving as a leader finishes finds its flight or its entry.
        ``blocking``: a sync caller, which must not wait on a coroutine of the loop it blocks."""
        positions: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            positions.setdefault(self.key(kind, request, settings), []).append(i)
        return _Plan(positions, self.flights.claim(positions, blocking=blocking))

    def _lookup(self, key: str) -> tuple[Any, bytes] | None:
        data = self.store.get(key)
        if data is None:
            return None
        try:
            return decode(data), data
        except (ValueError, KeyError, TypeError):  # a damaged entry: a miss, never a crash
            return None

    def _read_store(self, plan: _Plan) -> None:
        """The stored replies of the keys this call would compute (hits: no engine call)."""
        for key in plan.todo():
            found = self._lookup(key)
            if found is None:
                continue
            plan.own[key], plan.data[key] = found
            if key in plan.claim.lead:
                plan.claim.lead.discard(key)
                self.flights.settle(key, found[1])
            plan.claim.solo.discard(key)
            self._count(hits=len(plan.positions[key]))

    def _keep(self, plan: _Plan, todo: list[str], fresh: Sequence[Any]) -> None:
        """Store the engine's replies (only replies: an error never gets here), then end their
        flights; a key's repeats within the call are copies, counted as coalesced hits."""
        if len(fresh) != len(todo):
            raise EngineError(f"engine returned {len(fresh)} results for {len(todo)} requests")
        for key, reply in zip(todo, fresh, strict=True):
            data = encode(reply)
            self.store.put(key, data)  # before the flight ends: a later caller finds it stored
            plan.own[key], plan.data[key] = reply, data
            if key in plan.claim.lead:
                self.flights.settle(key, data)
            repeats = len(plan.positions[key]) - 1
            self._count(misses=1, hits=repeats, coalesced=repeats)

    def _fail(self, plan: _Plan, exc: BaseException) -> None:
        """This call failed: its flights still open end with the error (nothing stored)."""
        self.flights.fail(plan.claim.lead, exc)

    def _waited(self, plan: _Plan, key: str, data: bytes) -> None:
        plan.data[key] = data
        n = len(plan.positions[key])
        self._count(hits=n, coalesced=n)

    def _retried(self, plan: _Plan, key: str, reply: Any) -> None:
        plan.own[key], plan.data[key] = reply, encode(reply)
        repeats = len(plan.positions[key]) - 1  # the retry counted the first itself
        self._count(hits=repeats, coalesced=repeats)

    def _assemble(self, plan: _Plan, n: int) -> list[Any]:
        """Every request's reply in its position: a key's first gets the object this call holds,
        the rest fresh copies marked cached (never one object shared between callers)."""
        out: list[Any] = [None] * n
        for key, where in plan.positions.items():
            first = plan.own.get(key)
            for j, i in enumerate(where):
                out[i] = first if j == 0 and first is not None else decode(plan.data[key])
        return out

    # -- the lookup around one engine call ----------------------------------------------------
    # Deadlock-free: a caller computes and settles everything it leads before it waits on
    # anyone, and it never waits on its own flights (repeats within one call are copies).
    def _cached(self, kind: str, requests: Sequence[Any], settings: Any,
                call: Callable[[list[Any]], list[_A]]) -> list[_A]:
        plan = self._plan(kind, requests, settings, blocking=True)
        try:
            self._read_store(plan)
            todo = plan.todo()
            if todo:
                self._keep(plan, todo, call(plan.firsts(todo, requests)))
        except BaseException as exc:
            self._fail(plan, exc)
            raise
        for key, future in plan.claim.waits.items():
            try:
                self._waited(plan, key, SingleFlight.wait(future))
            except Abandoned:
                self._retried(plan, key, self._cached(kind, plan.firsts([key], requests), settings, call)[0])
        return self._assemble(plan, len(requests))

    async def _acached(self, kind: str, requests: Sequence[Any], settings: Any, call: Any) -> list[Any]:
        await self.aidentity()  # the keys need it: never wait for it on the loop
        plan = self._plan(kind, requests, settings, blocking=False)
        try:
            self._read_store(plan)
            todo = plan.todo()
            if todo:
                self._keep(plan, todo, await call(plan.firsts(todo, requests)))
        except BaseException as exc:
            self._fail(plan, exc)
            raise
        for key, future in plan.claim.waits.items():
            try:
                self._waited(plan, key, await SingleFlight.await_(future))
            except Abandoned:
                retry = await self._acached(kind, plan.firsts([key], requests), settings, call)
                self._retried(plan, key, retry[0])
        return self._assemble(plan, len(requests))

    def _cacheable(self, params: base.SamplingParams) -> bool:
        ok = params.temperature == 0 or params.seed is not None or self.cache_sampled
        if not ok:
            with self._lock:
                self.stats.bypassed += 1
        return ok

    # -- the engine protocol ----------------------------------------------------------------
    def generate(self, requests: Sequence[base.ChatRequest], params: base.SamplingParams) -> list[base.Generation]:
        if not self._cacheable(params):
            return self.inner.generate(requests, params)
        return self._cached("generate", requests, params, lambda rs: self.inner.generate(rs, params))

    async def agenerate(self, requests: Sequence[base.ChatRequest],
                        params: base.SamplingParams) -> list[base.Generation]:
        if not self._cacheable(params):
            return await self.inner.agenerate(requests, params)
        return await self._acached("generate", requests, params, lambda rs: self.inner.agenerate(rs, params))

    def choice_logprobs(self, requests: Sequence[base.ChatRequest],
                        choices: Sequence[str]) -> list[base.ChoiceDistribution]:
        return self._cached("choices", requests, list(choices), lambda rs: self.inner.choice_logprobs(rs, choices))

    async def achoice_logprobs(self, requests: Sequence[base.ChatRequest],
                               choices: Sequence[str]) -> list[base.ChoiceDistribution]:
        return await self._acached("choices", requests, list(choices),
                                   lambda rs: self.inner.achoice_logprobs(rs, choices))

    def attention(self, requests: Sequence[base.AttentionRequest]) -> list[base.AttentionReadout]:
        return self._cached("attention", requests, None, self.inner.attention)

    async def aattention(self, requests: Sequence[base.AttentionRequest]) -> list[base.AttentionReadout]:
        return await self._acached("attention", requests, None, self.inner.aattention)

    # An encoder's input is one passage (or one pair): a passage several queries share is
    # encoded once, and a repeated query costs no forward pass at all.
    def encode_batch(self, requests: Sequence[base.EncodeRequest]) -> list[base.Encoding]:
        return self._cached("encode", requests, None, self.inner.encode_batch)

    async def aencode_batch(self, requests: Sequence[base.EncodeRequest]) -> list[base.Encoding]:
        return await self._acached("encode", requests, None, self.inner.aencode_batch)

    # Tokenizer work is deterministic for a model: memoised in memory too, so a repeated query
    # on a served model sends no /tokenize either (a hit then costs no engine round trip at all).
    def count_tokens(self, text: str) -> int:
        return self._tokens.remember(("count", text), lambda: self.inner.count_tokens(text))

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        return self._tokens.remember(("cut", text, max_tokens), lambda: self.inner.truncate_tokens(text, max_tokens))

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        found, missing = self._tokens.split(texts, max_tokens)
        fresh = self.inner.truncate_many(missing, max_tokens) if missing else []
        return self._tokens.fill(texts, found, missing, max_tokens, fresh)

    async def atruncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        found, missing = self._tokens.split(texts, max_tokens)
        fresh = await self.inner.atruncate_many(missing, max_tokens) if missing else []
        return self._tokens.fill(texts, found, missing, max_tokens, fresh)


CacheOption = bool | str | os.PathLike[str] | None


def cache_layer(cache: CacheOption, *, namespace: str = "", max_entries: int = 4096,
                cache_sampled: bool = False) -> Callable[[base.Engine], base.Engine] | None:
    """The engine layer ``cache`` asks for: ``True``/None an in-memory LRU, ``False`` none, a
    folder the memory LRU in front of the shared on-disk store there (checked writable now)."""
    if cache is False:
        return None
    disk = None if cache is True or cache is None else DiskStore(cache)

    def layer(engine: base.Engine) -> base.Engine:
        store: Store = MemoryStore(max_entries)
        if disk is not None:
            store = TieredStore(MemoryStore(max_entries), disk)
        return CachedEngine(engine, store, namespace=namespace, cache_sampled=cache_sampled)

    return layer


def find_cache(engine: base.Engine) -> CachedEngine | None:
    """The :class:`CachedEngine` among ``engine``'s layers, if any."""
    return find_layer(engine, CachedEngine)


__all__ = [
    "KEY_VERSION",
    "CacheOption",
    "CacheStats",
    "CachedEngine",
    "cache_layer",
    "cache_scope",
    "decode",
    "encode",
    "file_fingerprint",
    "find_cache",
    "model_identity",
    "request_key",
    "served_models",
]
