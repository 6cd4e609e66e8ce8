"""Thinking budgets that still answer: a job combinator that, when a generation runs out of
tokens inside ``<think>``, closes the thought and continues the same assistant turn with the
answer opening (``</think>\\n<answer>``) in a short second generation.

Without it a model still thinking at the budget writes no ``<answer>`` and the parser scrapes
ids from the unfinished thought — the order the thought mentioned passages in, not a ranking
the model chose. Forcing is what Rank1 does for pointwise (see ``methods/pointwise.py``); here
it is one wrapper around any job, so listwise, setwise and REBEL only opt in (their
``force_answer`` option; the official ReasonRank and Rank-R1 presets leave it off to keep the
official behaviour). The continuation uses ``ChatRequest.assistant_prefix``, which every engine
honours: vLLM and transformers append it to the rendered prompt, llama.cpp likewise, a served
model gets it through ``/v1/completions`` or as a continued final assistant message.

The reply the method sees is one :class:`Generation`: the thought, the closing, then the
forced answer (its tokens and seconds summed), so the method's parser reads the answer as if the
model had written it. A generation whose thought closed but whose answer was cut is continued
with the answer's token allowance too (without the closing). Each trace whose output this
wrapper produced gets ``forced_answer`` and ``thinking_tokens``; ``usage`` counts both.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from reasonrank.engines.base import ChatRequest, Generation
from reasonrank.scheduling.combinators import intercept
from reasonrank.scheduling.steps import Generate

T = TypeVar("T")


@dataclass(frozen=True)
class ForceAnswer:
    """How to force an answer: the continuation's token allowance and the tags."""

    answer_tokens: int = 128
    #: False: only record thinking tokens (the method's official behaviour: a cut thought is
    #: parsed as it is).
    enabled: bool = True
    think_open: str = "<think>"
    think_close: str = "</think>"
    answer_open: str = "\n<answer>"
    answer_close: str = "</answer>"

    def state(self, text: str) -> str:
        """``"thinking"`` (an unclosed thought), ``"answering"`` (thought closed, answer not),
        or ``"done"`` (nothing to continue: no tags at all, or the answer closed)."""
        opened = text.rfind(self.think_open)
        closed = text.rfind(self.think_close)
        if opened >= 0 and closed < opened:
            return "thinking"
        if closed >= 0 and self.answer_close not in text[closed:]:
            return "answering"
        return "done"


@dataclass
class _Record:
    """What the wrapper saw of one generation: for the trace with that output."""

    forced: bool
    thinking_tokens: int


def _thinking_share(text: str, policy: ForceAnswer, tokens: int) -> int:
    """Tokens inside the thought of a generation that closed it itself, estimated by its share
    of the characters (the engines report completion tokens only as a total)."""
    end = text.find(policy.think_close)
    if end < 0 or not text:
        return 0
    return round(tokens * end / len(text))


def _merge(first: Generation, glue: str, cont: Generation) -> Generation:
    return Generation(text=first.text + glue + cont.text, finish_reason=cont.finish_reason,
                      prompt_tokens=first.prompt_tokens + cont.prompt_tokens,
                      completion_tokens=first.completion_tokens + cont.completion_tokens,
                      seconds=first.seconds + cont.seconds, cached=first.cached and cont.cached)


def _forcing_hook(policy: ForceAnswer, records: dict[str, _Record]) -> Any:
    def hook(step: Any) -> Generator[Any, Any, Any]:
        reply = yield step
        if not isinstance(step, Generate) or not isinstance(reply, Generation):
            return reply
        state = policy.state(step.request.assistant_prefix + reply.text)
        if reply.finish_reason != "length" or state == "done" or not policy.enabled:
            cut = reply.finish_reason == "length" and state == "thinking"  # all of it was thought
            records[reply.text] = _Record(False, reply.completion_tokens if cut
                                          else _thinking_share(reply.text, policy, reply.completion_tokens))
            return reply
        glue = policy.think_close + policy.answer_open if state == "thinking" else ""
        prefix = step.request.assistant_prefix + reply.text + glue
        follow = Generate(ChatRequest(step.request.messages, prefix),
                          replace(step.params, max_tokens=policy.answer_tokens))
        cont = yield follow  # an engine error here reaches the method like the first one's
        merged = _merge(reply, glue, cont)
        records[merged.text] = _Record(state == "thinking",
                                       reply.completion_tokens if state == "thinking"
                                       else _thinking_share(reply.text, policy, reply.completion_tokens))
        return merged

    return hook


def force_answers(job: Generator[Any, Any, T], policy: ForceAnswer) -> Generator[Any, Any, T]:
    """``job`` with every generation cut inside its thought answered (see the module)."""
    records: dict[str, _Record] = {}
    result = yield from intercept(job, _forcing_hook(policy, records))
    traces = getattr(result, "traces", None)
    usage = getattr(result, "usage", None)
    for trace in traces or []:
        record = records.get(trace.raw_output)
        if record is None:
            continue
        trace.forced_answer = record.forced
        trace.thinking_tokens = record.thinking_tokens
        if usage is not None:
            usage.forced_answers += int(record.forced)
            usage.thinking_tokens += record.thinking_tokens
    return result


__all__ = ["ForceAnswer", "force_answers"]
