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
model gets it through ``/v1/completions`` or as a continued final assistant message. The tags
and the closing text are the method's reasoning format
(:class:`~reasonrank.prompts.reasoning.ReasoningFormat`).

The reply the method sees is one :class:`Generation`: the thought, the closing, then the
forced answer (its tokens and seconds summed), so the method's parser reads the answer as if the
model had written it. A generation whose thought closed but whose answer was cut is continued
with the answer's token allowance too (without the closing). What the wrapper did travels on
that reply (``Generation.forced``, ``Generation.thinking_tokens``), so the method's trace of it
(:meth:`~reasonrank.types.Trace.of`) carries ``forced_answer`` and ``thinking_tokens``; ``usage``
counts both.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from reasonrank.engines.base import ChatRequest, Generation
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat
from reasonrank.scheduling.combinators import intercept
from reasonrank.scheduling.steps import Generate

T = TypeVar("T")


@dataclass(frozen=True)
class ForceAnswer:
    """How to force an answer: the continuation's token allowance, whether to force at all, and
    the reasoning format whose tags and closing text are used."""

    answer_tokens: int = 128
    #: False: only record thinking tokens (the method's official behaviour: a cut thought is
    #: parsed as it is).
    enabled: bool = True
    format: ReasoningFormat = DEFAULT_FORMAT

    def state(self, text: str) -> str:
        """``"thinking"`` (an unclosed thought), ``"answering"`` (thought closed, answer not),
        or ``"done"`` (nothing to continue: no tags at all, or the answer closed)."""
        opened = text.rfind(self.format.think_open)
        closed = text.rfind(self.format.think_close)
        if opened >= 0 and closed < opened:
            return "thinking"
        if closed >= 0 and self.format.answer_close not in text[closed:]:
            return "answering"
        return "done"


def _thinking_share(text: str, policy: ForceAnswer, tokens: int) -> int:
    """Tokens inside the thought of a generation that closed it itself, estimated by its share
    of the characters (the engines report completion tokens only as a total)."""
    end = text.find(policy.format.think_close)
    if end < 0 or not text:
        return 0
    return round(tokens * end / len(text))


def _merge(first: Generation, glue: str, cont: Generation) -> Generation:
    return Generation(text=first.text + glue + cont.text, finish_reason=cont.finish_reason,
                      prompt_tokens=first.prompt_tokens + cont.prompt_tokens,
                      completion_tokens=first.completion_tokens + cont.completion_tokens,
                      seconds=first.seconds + cont.seconds, cached=first.cached and cont.cached)


def _forcing_hook(policy: ForceAnswer) -> Any:
    def hook(step: Any) -> Generator[Any, Any, Any]:
        reply = yield step
        if not isinstance(step, Generate) or not isinstance(reply, Generation):
            return reply
        state = policy.state(step.request.assistant_prefix + reply.text)
        thought = reply.finish_reason == "length" and state == "thinking"  # all of it was thought
        thinking = reply.completion_tokens if thought else _thinking_share(reply.text, policy, reply.completion_tokens)
        if reply.finish_reason != "length" or state == "done" or not policy.enabled:
            return replace(reply, thinking_tokens=thinking)
        glue = policy.format.forced_close if state == "thinking" else ""
        prefix = step.request.assistant_prefix + reply.text + glue
        follow = Generate(ChatRequest(step.request.messages, prefix),
                          replace(step.params, max_tokens=policy.answer_tokens))
        cont = yield follow  # an engine error here reaches the method like the first one's
        return replace(_merge(reply, glue, cont), forced=glue if thought else None, thinking_tokens=thinking)

    return hook


def force_answers(job: Generator[Any, Any, T], policy: ForceAnswer) -> Generator[Any, Any, T]:
    """``job`` with every generation cut inside its thought answered (see the module), and its
    result's ``usage`` counting what its traces say was forced and thought."""
    result = yield from intercept(job, _forcing_hook(policy))
    usage = getattr(result, "usage", None)
    if usage is not None:
        for trace in getattr(result, "traces", None) or []:
            usage.forced_answers += int(trace.forced_answer)
            usage.thinking_tokens += trace.thinking_tokens
    return result


__all__ = ["ForceAnswer", "force_answers"]
