"""The embedded llama.cpp engine on the shipped Qwen2.5-0.5B GGUF (real tokens, few calls)."""
from __future__ import annotations

import math

import pytest
from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.errors import PromptTooLongError

pytestmark = pytest.mark.embedded

QUESTION = ChatRequest.of(
    [{"role": "user", "content": "Is Paris the capital of France? Answer true or false."}]
)


def test_render_uses_gguf_chat_template(embedded_engine):
    text = embedded_engine.render(ChatRequest.of(QUESTION.messages, assistant_prefix="<think>"))
    assert text.startswith("<|im_start|>system\n")
    assert text.endswith("<|im_start|>assistant\n<think>")


def test_generate_real_tokens_and_stop(embedded_engine):
    gen = embedded_engine.generate([QUESTION], SamplingParams(max_tokens=6))[0]
    assert gen.completion_tokens == 6 and gen.finish_reason == "length"
    assert gen.prompt_tokens == embedded_engine.count_tokens(embedded_engine.render(QUESTION))
    assert gen.text.strip() and gen.seconds > 0
    stopped = embedded_engine.generate(
        [ChatRequest.of(QUESTION.messages, assistant_prefix="<think>")],
        SamplingParams(max_tokens=20, stop=("</think>",)),
    )[0]
    assert "</think>" not in stopped.text and stopped.finish_reason == "stop"


def test_choice_logprobs_normalized_and_teacher_forced(embedded_engine):
    dist = embedded_engine.choice_logprobs([QUESTION], ["True", "False", "maybe so"])[0]
    assert math.isclose(sum(dist.probs.values()), 1.0, rel_tol=1e-9)
    assert all(v < 0 for v in dist.logprobs.values())
    # Multi-token choice: log p("maybe so") = log p("maybe") + log p(" so" | ..."maybe").
    first = embedded_engine.choice_logprobs([QUESTION], ["maybe"])[0].logprobs["maybe"]
    after = ChatRequest.of(QUESTION.messages, assistant_prefix="maybe")
    second = embedded_engine.choice_logprobs([after], [" so"])[0].logprobs[" so"]
    # (llama.cpp kernels differ slightly between one-token and batched decode: ~1e-2.)
    assert dist.logprobs["maybe so"] == pytest.approx(first + second, abs=0.05)
    assert abs(dist.logprobs["maybe so"] - first) > 1.0
    # Scoring must not leave stale logits for the next generation (greedy is deterministic).
    a = embedded_engine.generate([QUESTION], SamplingParams(max_tokens=4))[0].text
    embedded_engine.choice_logprobs([QUESTION], ["True"])
    b = embedded_engine.generate([QUESTION], SamplingParams(max_tokens=4))[0].text
    assert a == b and a


def test_count_truncate_and_too_long(embedded_engine):
    text = "hello world, how are you"
    assert embedded_engine.count_tokens(text) == 6
    cut = embedded_engine.truncate_tokens(text, 3)
    assert text.startswith(cut) and embedded_engine.count_tokens(cut) == 3
    assert embedded_engine.truncate_tokens(text, 100) == text
    huge = ChatRequest.of([{"role": "user", "content": "word " * (embedded_engine.n_ctx + 10)}])
    with pytest.raises(PromptTooLongError):
        embedded_engine.generate([huge], SamplingParams(max_tokens=1))
