"""Engine metering: how much wall time a reranker spends inside its engine, and on what.

An :class:`EngineMeter` is an :class:`~reasonrank.engines.base.Engine` wrapping another one, so
it is composed when the reranker is built (``RerankerSpec.build(layers=[EngineMeter])``);
:func:`meter` finds it among the reranker's layers.
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from reasonrank.engines import base  # the protocol's types, as base.X
from reasonrank.methods.base import Reranker, rebuild_in_place
from reasonrank.scheduling.layers import EngineWrapper, find_layer
from reasonrank.scheduling.stats import BusyClock

# What an engine call returns, per request: each carries its token counts.
_Answer = base.Generation | base.ChoiceDistribution | base.AttentionReadout | base.Encoding
_A = TypeVar("_A", base.Generation, base.ChoiceDistribution, base.AttentionReadout, base.Encoding)


class EngineMeter(EngineWrapper):
    """Wraps an engine and records the wall time it spends generating/scoring.

    Engine time is the union of the intervals in which at least one call was running, so
    concurrent async calls are not double-counted. Tokenizer helpers (count/truncate/render)
    count as library time: they are the method's preparation work.
    """

    def __init__(self, inner: base.Engine) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self.clock = BusyClock()
        self.calls = 0
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def reset(self) -> None:
        """Forget what was recorded so far (e.g. after a warm-up)."""
        self.clock.reset()
        with self._lock:
            self.calls = self.requests = self.prompt_tokens = self.completion_tokens = 0

    def _record(self, results: Sequence[_Answer]) -> None:
        with self._lock:
            self.calls += 1
            self.requests += len(results)
            for r in results:
                self.prompt_tokens += r.prompt_tokens
                self.completion_tokens += getattr(r, "completion_tokens", 0)

    def _timed(self, call: Callable[..., list[_A]], *args: Any) -> list[_A]:
        self.clock.start()
        try:
            out = call(*args)
        finally:
            self.clock.end()
        self._record(out)
        return out

    async def _atimed(self, call: Callable[..., Awaitable[list[_A]]], *args: Any) -> list[_A]:
        self.clock.start()
        try:
            out = await call(*args)
        finally:
            self.clock.end()
        self._record(out)
        return out

    def generate(
        self, requests: Sequence[base.ChatRequest], params: base.SamplingParams
    ) -> list[base.Generation]:
        return self._timed(self.inner.generate, requests, params)

    async def agenerate(
        self, requests: Sequence[base.ChatRequest], params: base.SamplingParams
    ) -> list[base.Generation]:
        return await self._atimed(self.inner.agenerate, requests, params)

    def choice_logprobs(
        self, requests: Sequence[base.ChatRequest], choices: Sequence[str]
    ) -> list[base.ChoiceDistribution]:
        return self._timed(self.inner.choice_logprobs, requests, choices)

    async def achoice_logprobs(
        self, requests: Sequence[base.ChatRequest], choices: Sequence[str]
    ) -> list[base.ChoiceDistribution]:
        return await self._atimed(self.inner.achoice_logprobs, requests, choices)

    def attention(self, requests: Sequence[base.AttentionRequest]) -> list[base.AttentionReadout]:
        return self._timed(self.inner.attention, requests)

    async def aattention(self, requests: Sequence[base.AttentionRequest]) -> list[base.AttentionReadout]:
        return await self._atimed(self.inner.aattention, requests)

    def encode_batch(self, requests: Sequence[base.EncodeRequest]) -> list[base.Encoding]:
        return self._timed(self.inner.encode_batch, requests)

    async def aencode_batch(self, requests: Sequence[base.EncodeRequest]) -> list[base.Encoding]:
        return await self._atimed(self.inner.aencode_batch, requests)
    # Tokenizer helpers (count/truncate/render) pass through untimed (EngineWrapper): library time.

    @property
    def busy_seconds(self) -> float:
        """Wall seconds during which at least one engine call was running."""
        return self.clock.seconds


def meter(reranker: Reranker) -> EngineMeter:
    """The :class:`EngineMeter` ``reranker`` was built with (``RerankerSpec.build(layers=
    [EngineMeter])``), found at any depth of its layers.

    Deprecated for a reranker built without one: it is then rebuilt in place with the metering
    layer (:func:`~reasonrank.methods.base.rebuild_in_place`), with a DeprecationWarning."""
    found = find_layer(reranker.engine, EngineMeter)
    if found is None:
        warnings.warn("meter(reranker) on a reranker built without a meter is deprecated; build it with "
                      "layers=[EngineMeter] (RerankerSpec.build) and find it with find_layer",
                      DeprecationWarning, stacklevel=2)
        rebuild_in_place(reranker, EngineMeter)
        found = find_layer(reranker.engine, EngineMeter)
    assert found is not None
    return found


__all__ = ["EngineMeter", "meter"]
