"""The engine-layer contract (issue 36 item 5), derived from the ``Engine`` protocol: every layer
(every subclass of ``EngineWrapper``: sharing, metering, the result cache) forwards every public
method of the protocol, sync and async, to the engine it wraps — a batch in one call — and a
layer is found at any depth of a stack. Layers are composed when a reranker is built; a built
reranker's engine is never replaced (a reranker with another layer is a new one)."""
from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from reasonrank.cache.replies import CachedEngine, find_cache
from reasonrank.engines import base
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
from reasonrank.evaluate.meter import EngineMeter
from reasonrank.scheduling.layers import EngineWrapper, compose, find_layer
from reasonrank.scheduling.shared import SharedEngine

#: The protocol's public methods, read from the class (a new one joins the contract by itself).
PROTOCOL = sorted(name for name, member in vars(Engine).items()
                  if not name.startswith("_") and inspect.isfunction(member))
ASYNC = {name for name in PROTOCOL if inspect.iscoroutinefunction(getattr(Engine, name))}

REQUEST = ChatRequest.of([{"role": "user", "content": "hi"}])
#: One call of each protocol method: its arguments (a one-request batch; three texts to cut).
ARGS: dict[str, tuple[Any, ...]] = {
    "generate": ([REQUEST], SamplingParams()),
    "choice_logprobs": ([REQUEST], ("yes", "no")),
    "attention": ([AttentionRequest(("a", "b"), ("q",))],),
    "encode_batch": ([EncodeRequest("text")],),
    "count_tokens": ("one two",),
    "truncate_tokens": ("one two three", 2),
    "truncate_many": (["one two three", "four five six", "seven"], 2),
    "render": (REQUEST,),
    "close": (),
    "describe": (),
}
for _name in ASYNC:
    ARGS[_name] = ARGS[_name[1:]]


class Recording(Engine):
    """An engine that implements every protocol method itself and records which was called."""

    name, model_name = "recording", "rec-model"
    supports_attention = True
    encoder_kind = "dense"

    def __init__(self, max_concurrency: int = 1) -> None:
        self.max_batch_size, self.max_concurrency = 8, max_concurrency
        self.calls: list[str] = []

    def _answer(self, kind: str, n: int) -> list[Any]:
        make: dict[str, Callable[[], Any]] = {
            "generate": lambda: Generation("x", "stop"),
            "choice_logprobs": lambda: ChoiceDistribution({"yes": -0.1, "no": -2.0}),
            "attention": lambda: AttentionReadout([[[1.0]]], [["a"]]),
            "encode_batch": lambda: Encoding(vector=[1.0, 0.0]),
        }
        return [make[kind]() for _ in range(n)]

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self.calls.append("generate")
        return self._answer("generate", len(requests))

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self.calls.append("agenerate")
        return self._answer("generate", len(requests))

    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        self.calls.append("choice_logprobs")
        return self._answer("choice_logprobs", len(requests))

    async def achoice_logprobs(self, requests: Sequence[ChatRequest],
                               choices: Sequence[str]) -> list[ChoiceDistribution]:
        self.calls.append("achoice_logprobs")
        return self._answer("choice_logprobs", len(requests))

    def attention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        self.calls.append("attention")
        return self._answer("attention", len(requests))

    async def aattention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        self.calls.append("aattention")
        return self._answer("attention", len(requests))

    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        self.calls.append("encode_batch")
        return self._answer("encode_batch", len(requests))

    async def aencode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        self.calls.append("aencode_batch")
        return self._answer("encode_batch", len(requests))

    def count_tokens(self, text: str) -> int:
        self.calls.append("count_tokens")
        return len(text.split())

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        self.calls.append("truncate_tokens")
        return " ".join(text.split()[:max_tokens])

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        self.calls.append("truncate_many")
        return [" ".join(t.split()[:max_tokens]) for t in texts]

    async def atruncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        self.calls.append("atruncate_many")
        return [" ".join(t.split()[:max_tokens]) for t in texts]

    def render(self, request: ChatRequest) -> str:
        self.calls.append("render")
        return "rendered"

    def close(self) -> None:
        self.calls.append("close")

    def describe(self) -> dict[str, Any]:
        self.calls.append("describe")
        return super().describe()


def all_layers() -> list[type[EngineWrapper]]:
    """Every layer class the library defines (the subclasses of EngineWrapper, at any depth)."""
    found, todo = [], [EngineWrapper]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("reasonrank."):
                found.append(sub)
                todo.append(sub)
    return sorted(found, key=lambda c: c.__name__)


LAYERS = all_layers()
# (layer class, the inner engine's max_concurrency): sharing is two mechanisms (a queue for a
# sync engine, a gate for a concurrent one), so both are held to the contract.
CASES = [(layer, mc) for layer in LAYERS for mc in ((1, 4) if layer is SharedEngine else (1,))]


def expected_call(layer: type[EngineWrapper], inner: Recording, method: str) -> str:
    """The inner call ``method`` must become: itself, except that the sharing layer over a sync
    batch engine answers async callers from its queue, in batched sync engine calls."""
    engine_calls = {"agenerate", "achoice_logprobs", "aattention", "aencode_batch"}
    if layer is SharedEngine and inner.max_concurrency == 1 and method in engine_calls:
        return method[1:]
    return method


def test_the_protocol_and_the_layers_are_all_covered() -> None:
    assert {"truncate_many", "atruncate_many", "encode_batch", "aencode_batch", "generate",
            "agenerate"} <= set(PROTOCOL)
    assert set(ARGS) == set(PROTOCOL), "a new protocol method: give it arguments here"
    assert set(PROTOCOL) <= set(vars(Recording)), "the recording engine must implement every method"
    assert {SharedEngine, EngineMeter, CachedEngine} <= set(LAYERS)


@pytest.mark.parametrize(("layer", "mc"), CASES, ids=[f"{c.__name__}-mc{m}" for c, m in CASES])
@pytest.mark.parametrize("method", PROTOCOL)
def test_every_layer_forwards_every_method_in_one_call(layer: type[EngineWrapper], mc: int, method: str) -> None:
    inner = Recording(max_concurrency=mc)
    wrapped = layer(inner)
    inner.calls.clear()  # what building the layer asked (the cache's model identity) is not the call
    call = getattr(wrapped, method)
    try:
        out = call(*ARGS[method])
        if method in ASYNC:
            out = asyncio.run(out)
        assert inner.calls == [expected_call(layer, inner, method)]
        if method == "truncate_many" or method == "atruncate_many":
            assert out == ["one two", "four five", "seven"]
    finally:
        if method != "close":
            wrapped.close()
    assert wrapped.supports_attention and wrapped.encoder_kind == "dense"
    assert (wrapped.model_name, wrapped.max_context) == (inner.model_name, inner.max_context)


@pytest.mark.parametrize("order", list(itertools.permutations(LAYERS)),
                         ids=lambda order: ">".join(c.__name__ for c in order))
def test_a_layer_is_found_at_any_depth(order: tuple[type[EngineWrapper], ...]) -> None:
    inner = Recording()
    top = compose(inner, *order)  # the first is innermost
    try:
        layer = top
        for cls in reversed(order):  # walk down: each layer keeps what it wraps as .inner
            assert find_layer(top, cls) is layer
            layer = layer.inner
        assert layer is inner and find_cache(top) is find_layer(top, CachedEngine)
        # every call still reaches the engine through the whole stack, a batch in one call
        inner.calls.clear()
        assert top.truncate_many(["a b c", "d e f"], 1) == ["a", "d"]
        assert top.generate([REQUEST], SamplingParams())[0].text == "x"
        assert inner.calls == ["truncate_many", "generate"]
    finally:
        top.close()


# -- layers are composed when a reranker is built; a built reranker is never re-layered ---------
def _listwise(request: ChatRequest) -> str:
    return "<answer>[2] > [1]</answer>"


def test_spec_layers_sit_under_the_cache_and_are_found() -> None:
    from reasonrank.engines.scripted import ScriptedEngine
    from reasonrank.spec import RerankerSpec

    engine = ScriptedEngine(_listwise)
    reranker = RerankerSpec(method="listwise", engine=engine, fusion="rrf").build(layers=[SharedEngine, EngineMeter])
    try:
        cache, meter, shared = (find_layer(reranker.engine, cls) for cls in (CachedEngine, EngineMeter, SharedEngine))
        assert reranker.engine is cache and cache.inner is meter and meter.inner is shared and shared.inner is engine
        assert reranker.inner.engine is reranker.engine  # a fused reranker's parts share the one stack
        reranker.rerank("q", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}])
        assert meter.calls == 1 and shared.stats.calls == 1
    finally:
        reranker.engine.close()


def test_a_built_reranker_is_never_re_layered_only_rebuilt() -> None:
    from reasonrank.engines.scripted import ScriptedEngine
    from reasonrank.methods.cascade import CascadeReranker
    from reasonrank.methods.fusion import FusedReranker
    from reasonrank.methods.listwise import ListwiseReranker

    engine = ScriptedEngine(_listwise)
    stages = [ListwiseReranker(engine, window_size=4, stride=2), ListwiseReranker(engine, window_size=2, stride=1)]
    cascade = CascadeReranker([FusedReranker(stages[0]), stages[1]], [4, 2])
    with pytest.raises(AttributeError):
        cascade.engine = EngineMeter(engine)  # type: ignore[misc]
    metered = cascade.with_layers(EngineMeter)
    meter = metered.engine
    assert isinstance(meter, EngineMeter) and meter.inner is engine
    assert metered.stages[0].engine is meter and metered.stages[0].inner.engine is meter  # type: ignore[attr-defined]
    assert metered.stages[1].engine is meter  # stages that shared an engine share its one layer
    assert cascade.engine is engine and stages[0].engine is engine  # the original is untouched
    result = metered.rerank("q", [{"id": c, "text": c} for c in "abcd"])
    assert sorted(result.ids) == list("abcd") and meter.calls >= 2


def test_base_engine_protocol_is_what_the_contract_reads() -> None:
    # the contract follows the protocol module's class, not a copy of its method list
    assert Engine is base.Engine and "truncate_many" in PROTOCOL and "atruncate_many" in ASYNC
