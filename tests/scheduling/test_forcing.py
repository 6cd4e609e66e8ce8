"""Forced answers as data: what the wrapper did travels on the reply (``Generation.forced``,
``Generation.thinking_tokens``), a trace built from that reply carries it, and the result's usage
counts the traces — no matching of output texts."""
from __future__ import annotations

from dataclasses import dataclass, field

from reasonrank.cache.keys import decode, encode
from reasonrank.engines.base import ChatRequest, Generation, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.scheduling import Generate, run_batched
from reasonrank.scheduling.forcing import ForceAnswer, force_answers
from reasonrank.types import Trace, Usage

CUT = "<think> " + "same words " * 20  # never closes its thought: cut by the budget


def model(request: ChatRequest) -> str:
    if request.assistant_prefix.endswith("<answer>"):
        return "[1]</answer>"
    if "short" in request.messages[0]["content"]:
        return "<think>a brief thought here</think> <answer>[2]</answer>"
    return CUT


@dataclass
class Result:
    traces: list[Trace]
    replies: list[Generation]
    usage: Usage = field(default_factory=Usage)


def job(prompts: list[str]):
    replies, traces = [], []
    for prompt in prompts:
        gen = yield Generate(ChatRequest.of([{"role": "user", "content": prompt}]), SamplingParams(max_tokens=10))
        replies.append(gen)
        traces.append(Trace.of("window", gen, [], "", ""))
    return Result(traces, replies)


def test_what_was_forced_travels_on_the_reply_and_its_trace():
    engine = ScriptedEngine(model)
    (result,) = run_batched([force_answers(job(["long a", "short", "long b"]), ForceAnswer())], engine)
    first, short, second = result.replies
    # both cut outputs are the same text before forcing: each reply says what happened to it
    assert first.forced == second.forced == "</think>\n<answer>"
    assert first.text.endswith("</think>\n<answer>[1]</answer>") and first.thinking_tokens == 10
    assert short.forced is None and short.thinking_tokens == round(5 * 27 / 56) == 2  # its share of 5 tokens
    assert [t.forced_answer for t in result.traces] == [True, False, True]
    assert [t.thinking_tokens for t in result.traces] == [10, short.thinking_tokens, 10]
    assert result.usage.forced_answers == 2 and result.usage.thinking_tokens == 20 + short.thinking_tokens


def test_disabled_policy_records_thinking_only():
    engine = ScriptedEngine(model)
    (result,) = run_batched([force_answers(job(["long"]), ForceAnswer(enabled=False))], engine)
    (reply,) = result.replies
    assert reply.forced is None and reply.thinking_tokens == 10 and reply.finish_reason == "length"
    assert result.usage.forced_answers == 0 and result.usage.thinking_tokens == 10
    assert len(engine.calls) == 1  # no continuation asked for


def test_stored_form_keeps_the_forcing_fields():
    gen = Generation("t</think>\n<answer>[1]</answer>", "stop", 3, 4, forced="</think>\n<answer>", thinking_tokens=2)
    back = decode(encode(gen))
    assert (back.forced, back.thinking_tokens, back.cached) == ("</think>\n<answer>", 2, True)
