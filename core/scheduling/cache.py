"""The result cache: an engine layer that answers a request it has seen before without the
engine, so every method, entry point and engine gains from it.

The key (:func:`request_key`) covers everything that can change a reply: the engine kind; the
model's identity (:func:`model_identity`: the model name and revision, a local model file's
fingerprint, a server's base URL, what its ``/v1/models`` reports, template and extra request
settings); a user-set ``namespace`` (for servers that swap weights under one name, or one
namespace per API key in ``serve``); the exact request (messages and assistant prefix, or an
attention request's segments and probes); the sampling parameters with the seed, or the choices
scored. Generation with ``temperature > 0`` and no seed is not cached (a fresh sample is what
was asked for) unless ``cache_sampled=True``. Only replies are stored: an engine error raises
through and stores nothing; a method's fallback (input order kept) is not an engine reply.

A hit comes back marked ``cached=True`` with ``seconds=0``; the scheduler's runner counts hits
and misses per query into ``result.usage`` (``cache_hits``, ``cache_misses``).
"""
from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import os
import threading
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from reasonrank.engines import base
from reasonrank.scheduling.cache_store import DiskStore, MemoryStore, Store, TieredStore
from reasonrank.scheduling.layers import EngineWrapper, find_layer

#: A per-request namespace on top of the engine's (``serve`` sets one per API key).
cache_scope: contextvars.ContextVar[str] = contextvars.ContextVar("reasonrank_cache_scope", default="")
KEY_VERSION = 1  # bump when the key or the stored form changes: old entries become misses
_A = TypeVar("_A", base.Generation, base.ChoiceDistribution, base.AttentionReadout)
_TYPES: dict[str, type] = {t.__name__: t for t in (base.Generation, base.ChoiceDistribution, base.AttentionReadout)}


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """A local model file's identity: size, and a hash of its first and last MiB (hashing a
    multi-GiB file whole on every start would cost seconds; a changed weight file changes these)."""
    p = Path(path)
    if not p.is_file():
        return str(p)
    size = p.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with p.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            digest.update(fh.read())
    return f"{size}:{digest.hexdigest()[:32]}"


def served_models(base_url: str, api_key: str = "", timeout: float = 5.0) -> str:
    """What ``GET {base_url}/models`` reports (ids and their roots/revisions), or ``"?"`` when
    the server does not say: the key then rests on the URL, the model name and the namespace."""
    req = urllib.request.Request(f"{base_url.rstrip('/')}/models")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            data = json.loads(reply.read())
        models = data.get("data", []) if isinstance(data, dict) else []
        keep = ("id", "root", "parent", "revision", "max_model_len", "owned_by")
        return json.dumps(sorted(json.dumps({k: m.get(k) for k in keep if k in m}, sort_keys=True)
                                 for m in models if isinstance(m, dict)))
    except Exception:  # noqa: BLE001 - best effort: no /models is no reason to fail a rerank
        return "?"


def model_identity(engine: base.Engine) -> dict[str, Any]:
    """Everything about ``engine`` (not the request) that can change its replies."""
    ident: dict[str, Any] = {"engine": engine.name, "model": engine.model_name, "describe": engine.describe()}
    for attr in ("revision", "chat_template_kwargs", "extra_body", "dtype", "quantization"):
        value = getattr(engine, attr, None)
        if value is not None:
            ident[attr] = value
    model_path = getattr(engine, "model_path", None)
    if model_path:
        ident["file"] = file_fingerprint(model_path)
    base_url = getattr(engine, "base_url", None)
    if isinstance(base_url, str):
        ident["base_url"] = base_url
        ident["served"] = served_models(base_url, str(getattr(engine, "api_key", "") or ""))
    return ident


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def request_key(identity: str, namespace: str, kind: str, request: Any, settings: Any) -> str:
    """The cache key of one request: a SHA-256 over its parts (see the module docstring)."""
    blob = json.dumps([KEY_VERSION, identity, namespace, kind, _jsonable(request), _jsonable(settings)],
                      sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def encode(reply: Any) -> bytes:
    """A reply as stored (JSON with its type; ``-inf`` log-probabilities survive)."""
    fields = _jsonable(reply)
    fields.pop("cached", None)
    return json.dumps({"type": type(reply).__name__, "fields": fields}).encode()


def decode(data: bytes) -> Any:
    """A stored reply, marked cached; raises ``ValueError``/``KeyError``/``TypeError`` on junk."""
    obj = json.loads(data)
    reply = _TYPES[obj["type"]](**obj["fields"])
    reply.cached = True
    reply.seconds = 0.0
    return reply


class _TokenMemo:
    """A bounded in-memory memo of tokenizer results (counts and cuts)."""

    def __init__(self, max_entries: int = 65536) -> None:
        self._data: dict[tuple[Any, ...], Any] = {}
        self.max_entries = max_entries

    def get(self, key: tuple[Any, ...]) -> Any:
        return self._data.get(key)

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        if len(self._data) >= self.max_entries:
            self._data.clear()  # crude but bounded: tokenizer results are cheap to recompute
        self._data[key] = value

    def remember(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        value = self._data.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def split(self, texts: Sequence[str], max_tokens: int) -> tuple[list[str | None], list[str]]:
        found = [self._data.get(("cut", t, max_tokens)) for t in texts]
        missing = list(dict.fromkeys(t for t, f in zip(texts, found, strict=True) if f is None))
        return found, missing

    def fill(self, texts: Sequence[str], found: list[str | None], missing: list[str], max_tokens: int,
             fresh: Sequence[str]) -> list[str]:
        """Remember the ``fresh`` cuts of ``missing``; every text's cut, in order."""
        new = dict(zip(missing, fresh, strict=True))
        for text, value in new.items():
            self.put(("cut", text, max_tokens), value)
        return [f if f is not None else new[t] for t, f in zip(texts, found, strict=True)]


@dataclasses.dataclass
class CacheStats:
    """Hits, misses and requests not cached (sampled without a seed) so far."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class CachedEngine(EngineWrapper):
    """An engine layer serving repeated requests from a :class:`Store` (memory, or disk too)."""

    def __init__(self, inner: base.Engine, store: Store | None = None, *, namespace: str = "",
                 cache_sampled: bool = False) -> None:
        super().__init__(inner)
        self.store: Store = store if store is not None else MemoryStore()
        self.namespace = namespace
        self.cache_sampled = cache_sampled
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._identity: str | None = None
        self._tokens = _TokenMemo()

    @property
    def identity(self) -> str:
        """The model identity, computed once (a served model's ``/v1/models`` is asked once)."""
        if self._identity is None:
            self._identity = json.dumps(_jsonable(model_identity(self.inner)), sort_keys=True, default=repr)
        return self._identity

    def key(self, kind: str, request: Any, settings: Any) -> str:
        namespace = f"{self.namespace}\x00{cache_scope.get()}"
        return request_key(self.identity, namespace, kind, request, settings)

    # -- the lookup around one engine call --------------------------------------------------
    def _split(self, kind: str, requests: Sequence[Any], settings: Any) -> tuple[list[Any], list[str]]:
        """The cached replies (None where missing) and every request's key."""
        keys = [self.key(kind, r, settings) for r in requests]
        found: list[Any] = []
        for key in keys:
            data = self.store.get(key)
            reply = None
            if data is not None:
                try:
                    reply = decode(data)
                except (ValueError, KeyError, TypeError):  # a damaged entry: a miss, never a crash
                    reply = None
            found.append(reply)
        with self._lock:
            hits = sum(r is not None for r in found)
            self.stats.hits += hits
            self.stats.misses += len(found) - hits
        return found, keys

    def _merge(self, found: list[Any], keys: list[str], fresh: Sequence[Any]) -> list[Any]:
        fresh_iter = iter(fresh)
        out = []
        for reply, key in zip(found, keys, strict=True):
            if reply is None:
                reply = next(fresh_iter)
                self.store.put(key, encode(reply))  # only after the engine answered: errors never stored
            out.append(reply)
        return out

    def _cacheable(self, params: base.SamplingParams) -> bool:
        ok = params.temperature == 0 or params.seed is not None or self.cache_sampled
        if not ok:
            with self._lock:
                self.stats.bypassed += 1
        return ok

    def _cached(self, kind: str, requests: Sequence[Any], settings: Any,
                call: Callable[[list[Any]], list[_A]]) -> list[_A]:
        found, keys = self._split(kind, requests, settings)
        missing = [r for r, f in zip(requests, found, strict=True) if f is None]
        return self._merge(found, keys, call(missing) if missing else [])

    async def _acached(self, kind: str, requests: Sequence[Any], settings: Any, call: Any) -> list[Any]:
        found, keys = self._split(kind, requests, settings)
        missing = [r for r, f in zip(requests, found, strict=True) if f is None]
        return self._merge(found, keys, (await call(missing)) if missing else [])

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
