"""The engine protocol's shared pieces: normalize_logprobs, ScriptedEngine, create_engine."""
from __future__ import annotations

import asyncio
import math

import pytest
from reasonrank.engines import (
    ChatRequest,
    ChoiceDistribution,
    SamplingParams,
    create_engine,
    normalize_logprobs,
)
from reasonrank.engines.scripted import ScriptedEngine


def test_normalize_logprobs_is_a_softmax() -> None:
    probs = normalize_logprobs({"a": math.log(0.2), "b": math.log(0.6)})
    assert probs["a"] == pytest.approx(0.25)
    assert probs["b"] == pytest.approx(0.75)


def test_normalize_logprobs_stable_for_very_negative_values() -> None:
    # exp(-1000) underflows to 0; log-sum-exp must still give the right ratio
    probs = normalize_logprobs({"a": -1000.0, "b": -1000.0 - math.log(3)})
    assert probs["a"] == pytest.approx(0.75)
    assert probs["b"] == pytest.approx(0.25)


def test_normalize_logprobs_minus_inf_gets_zero() -> None:
    probs = normalize_logprobs({"a": -math.inf, "b": -2.0, "c": -2.0})
    assert probs == {"a": 0.0, "b": pytest.approx(0.5), "c": pytest.approx(0.5)}


def test_normalize_logprobs_all_minus_inf_is_uniform() -> None:
    probs = normalize_logprobs({"a": -math.inf, "b": -math.inf, "c": -math.inf, "d": -math.inf})
    assert probs == {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}
    assert normalize_logprobs({}) == {}


def test_choice_distribution_fills_probs() -> None:
    dist = ChoiceDistribution(logprobs={"true": math.log(0.3), "false": math.log(0.1)})
    assert dist.probs["true"] == pytest.approx(0.75)
    assert sum(dist.probs.values()) == pytest.approx(1.0)


def test_scripted_engine_generate_stop_length_and_calls() -> None:
    engine = ScriptedEngine(lambda r: r.messages[-1]["content"].upper() + " END tail")
    req = ChatRequest.of([{"role": "user", "content": "one two"}])
    (gen,) = engine.generate([req], SamplingParams(stop=("END",)))
    assert gen.text.strip() == "ONE TWO"
    assert gen.finish_reason == "stop"
    (cut,) = engine.generate([req], SamplingParams(max_tokens=1))
    assert (cut.text, cut.finish_reason, cut.completion_tokens) == ("ONE", "length", 1)
    assert [kind for kind, _ in engine.calls] == ["generate", "generate"]
    assert engine.calls[0][1] == [req]


def test_scripted_engine_render_appends_assistant_prefix_and_async() -> None:
    engine = ScriptedEngine(
        lambda r: "x", logprob_fn=lambda r, choices: {c: -float(i) for i, c in enumerate(choices)}
    )
    req = ChatRequest.of([{"role": "user", "content": "q"}], assistant_prefix="<think>")
    assert engine.render(req).endswith("<|assistant|>\n<think>")
    (dist,) = asyncio.run(engine.achoice_logprobs([req], ["a", "b"]))
    assert dist.logprobs == {"a": 0.0, "b": -1.0}
    assert dist.probs["a"] > dist.probs["b"]
    assert [g.text for g in asyncio.run(engine.agenerate([req, req], SamplingParams()))] == [
        "x",
        "x",
    ]


def test_scripted_engine_without_logprob_fn_raises() -> None:
    with pytest.raises(NotImplementedError):
        ScriptedEngine().choice_logprobs([ChatRequest.of([{"role": "user", "content": "q"}])], ["a"])


def test_create_engine_builds_by_name_and_rejects_unknown() -> None:
    assert isinstance(create_engine("scripted"), ScriptedEngine)
    with pytest.raises(ValueError, match="unknown engine 'nope'.*transformers"):
        create_engine("nope")
