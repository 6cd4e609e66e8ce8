"""Engine layers: what wraps the engine when a reranker is built (sharing, metering, a cache).

A layer is any ``Callable[[Engine], Engine]`` that returns an :class:`EngineWrapper` around the
engine it is given: :class:`~reasonrank.scheduling.SharedEngine` (one engine for concurrent
callers), ``reasonrank.evaluate.EngineMeter`` (engine time and tokens), ``CachedEngine`` (the
reply cache). Each keeps what it wraps as ``.inner`` and overrides only the calls it changes, so
:func:`find_layer` finds a layer at any depth and every call of the protocol reaches the engine
(``tests/scheduling/test_layers_contract.py``). Compose them before the reranker is
constructed, never by replacing ``reranker.engine`` afterwards (it is read-only)::

    engine = compose(build_engine(...), SharedEngine, EngineMeter)
    reranker = ListwiseReranker(engine)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from reasonrank.engines.base import (
    AttentionReadout,
    AttentionRequest,
    ChatRequest,
    ChoiceDistribution,
    EncodeRequest,
    Encoding,
    Engine,
    Generation,
    SamplingParams,
)

EngineLayer = Callable[[Engine], Engine]
L = TypeVar("L")


def find_layer(engine: Engine, kind: type[L]) -> L | None:
    """The layer of type ``kind`` in ``engine``'s stack (each layer keeps what it wraps as
    ``.inner``), or None."""
    current: object = engine
    for _ in range(32):  # a stack is a few layers deep; the bound guards against a cycle
        if isinstance(current, kind):
            return current
        current = getattr(current, "__dict__", {}).get("inner")
        if current is None:
            return None
    return None


def compose(engine: Engine, *layers: EngineLayer) -> Engine:
    """``engine`` wrapped by each layer in turn (the first layer is the innermost)."""
    for layer in layers:
        engine = layer(engine)
        if not isinstance(engine, Engine):
            raise TypeError(f"engine layer {layer!r} returned {type(engine).__name__}, not an Engine")
    return engine


__all__ = ["EngineLayer", "EngineWrapper", "compose", "find_layer"]


class EngineWrapper(Engine):
    """Base of engine layers: every call and attribute goes to ``inner`` unless overridden.

    A layer (metering, a reply cache…) overrides only the calls it changes; the capacity
    attributes the scheduler reads (``max_batch_size``, ``max_concurrency``…) are the inner
    engine's, and backend-specific attributes (``tokenizer``…) pass through.
    """

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name, self.model_name, self.max_context = inner.name, inner.model_name, inner.max_context
        self.max_batch_size, self.max_concurrency = inner.max_batch_size, inner.max_concurrency

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (copy/pickle): no recursion into __getattr__
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def supports_attention(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.inner, "supports_attention", False))

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        return self.inner.generate(requests, params)

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        return await self.inner.agenerate(requests, params)

    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        return self.inner.choice_logprobs(requests, choices)

    async def achoice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        return await self.inner.achoice_logprobs(requests, choices)

    def attention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        return self.inner.attention(requests)

    async def aattention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        return await self.inner.aattention(requests)

    @property
    def encoder_kind(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "encoder_kind", None)

    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        return self.inner.encode_batch(requests)

    async def aencode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        return await self.inner.aencode_batch(requests)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        return self.inner.truncate_tokens(text, max_tokens)

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        return self.inner.truncate_many(texts, max_tokens)

    async def atruncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        return await self.inner.atruncate_many(texts, max_tokens)

    def render(self, request: ChatRequest) -> str:
        return self.inner.render(request)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()
