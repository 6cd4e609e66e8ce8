"""EngineMeter: engine time as the union of busy intervals, tokens counted, attributes passed."""
from __future__ import annotations

import asyncio

import pytest
from eval_helpers import ScriptRanker
from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.evaluate import EngineMeter, meter


async def test_concurrent_calls_are_not_double_counted():
    inner = ScriptedEngine(lambda r: "one two three", delay_fn=lambda r: 0.2)
    engine = EngineMeter(inner)
    req = [ChatRequest.of([{"role": "user", "content": "hi"}])]
    await asyncio.gather(*(engine.agenerate(req, SamplingParams()) for _ in range(3)))
    assert engine.calls == 3 and engine.completion_tokens == 9
    assert 0.19 <= engine.busy_seconds < 0.4  # three overlapping 0.2 s calls, not 0.6 s


def test_sequential_calls_add_up_and_attributes_pass_through():
    inner = ScriptedEngine(lambda r: "x", delay_fn=lambda r: 0.05, model_name="m1", max_batch_size=7)
    reranker = ScriptRanker(inner)
    engine = meter(reranker)
    assert meter(reranker) is engine  # idempotent
    assert engine.model_name == "m1" and engine.max_batch_size == 7
    assert engine.inner.calls == []
    reranker.rerank("q", [{"id": "a", "text": "t"}, {"id": "b", "text": "u"}])
    reranker.rerank("q", [{"id": "a", "text": "t"}])
    assert engine.calls == 2 and len(inner.calls) == 2
    assert engine.busy_seconds == pytest.approx(0.1, abs=0.05)
    assert engine.render(ChatRequest.of([{"role": "user", "content": "z"}])).startswith("<|user|>")
