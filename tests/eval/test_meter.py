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
    with pytest.warns(DeprecationWarning, match="layers=\\[EngineMeter\\]"):
        engine = meter(reranker)  # rebuilt in place with the metering layer (deprecated)
    assert meter(reranker) is engine  # idempotent: found among the layers, no second warning
    assert engine.model_name == "m1" and engine.max_batch_size == 7
    assert engine.inner.calls == []
    reranker.rerank("q", [{"id": "a", "text": "t"}, {"id": "b", "text": "u"}])
    reranker.rerank("q", [{"id": "a", "text": "t"}])
    assert engine.calls == 2 and len(inner.calls) == 2
    assert engine.busy_seconds == pytest.approx(0.1, abs=0.05)
    assert engine.render(ChatRequest.of([{"role": "user", "content": "z"}])).startswith("<|user|>")


def test_benchmark_reads_the_meter_the_reranker_was_built_with():
    """Metering is composed when the reranker is built (issue 25): benchmark() finds the meter
    without touching ``reranker.engine``; a reranker built without one still works, warned."""
    import warnings

    from reasonrank.data import Dataset
    from reasonrank.evaluate import benchmark
    from reasonrank.scheduling import compose
    from reasonrank.types import Candidate

    dataset = Dataset(name="t", queries={"q1": "q"}, qrels={"q1": {"a": 1}},
                      run={"q1": [("a", 2.0), ("b", 1.0)]},
                      corpus={"a": Candidate(id="a", text="t"), "b": Candidate(id="b", text="u")})
    inner = ScriptedEngine(lambda r: "x", delay_fn=lambda r: 0.01)
    reranker = ScriptRanker(compose(inner, EngineMeter))
    built_with = reranker.engine
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        report = benchmark(reranker, dataset, warmup=0)
    assert reranker.engine is built_with and report["engine_seconds"] > 0
    plain = ScriptRanker(ScriptedEngine(lambda r: "x"))
    with pytest.warns(DeprecationWarning, match="layers=\\[EngineMeter\\]"):
        benchmark(plain, dataset, warmup=0)
