"""The transformers engine generates real tokens from the tiny Qwen2 model."""
from __future__ import annotations

import asyncio
import math

import pytest

torch = pytest.importorskip("torch")

from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.errors import PromptTooLongError

SHORT = ChatRequest.of([{"role": "user", "content": "hello there"}])
LONG = ChatRequest.of(
    [{"role": "system", "content": "You rank passages."},
     {"role": "user", "content": "a much longer prompt with many more words in it, to exercise left padding"}],
    assistant_prefix="<think>",
)


def test_generates_real_tokens_with_counts(tiny_engine) -> None:
    (gen,) = tiny_engine.generate([SHORT], SamplingParams(max_tokens=6))
    assert gen.completion_tokens == 6 and gen.finish_reason == "length"
    assert gen.prompt_tokens == tiny_engine.count_tokens(tiny_engine.render(SHORT))
    assert gen.text and gen.seconds > 0


def test_batch_equals_one_at_a_time_under_greedy(tiny_engine) -> None:
    params = SamplingParams(max_tokens=10)
    batch = tiny_engine.generate([SHORT, LONG], params)
    single = [tiny_engine.generate([r], params)[0] for r in (SHORT, LONG)]
    assert [g.text for g in batch] == [g.text for g in single]


def test_assistant_prefix_and_chat_template(tiny_engine) -> None:
    text = tiny_engine.render(LONG)
    assert text.startswith("<|im_start|>system\nYou rank passages.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n<think>")


def test_stop_string_cuts_the_text(tiny_engine) -> None:
    (free,) = tiny_engine.generate([LONG], SamplingParams(max_tokens=12))
    assert len(free.text) > 2
    stop = free.text[2:4]
    (cut,) = tiny_engine.generate([LONG], SamplingParams(max_tokens=12, stop=(stop,)))
    assert stop not in cut.text and free.text.startswith(cut.text) and cut.finish_reason == "stop"


def test_choice_logprobs_match_a_manual_forward_pass(tiny_engine) -> None:
    choices = [" true", " false", "10"]
    (dist,) = tiny_engine.choice_logprobs([SHORT], choices)
    assert sum(dist.probs.values()) == pytest.approx(1.0)
    ids = tiny_engine.encode(tiny_engine.render(SHORT))
    with torch.no_grad():
        logits = tiny_engine.model(torch.tensor([ids])).logits[0, -1].float()
    logp = torch.log_softmax(logits, -1)
    for c in (" true", " false"):
        (tok,) = tiny_engine.encode(c)
        assert dist.logprobs[c] == pytest.approx(float(logp[tok]), abs=1e-4)
    ten = tiny_engine.encode("10")
    assert len(ten) == 2  # Qwen splits digits: the multi-token path is exercised
    with torch.no_grad():
        full = torch.log_softmax(tiny_engine.model(torch.tensor([ids + ten])).logits[0].float(), -1)
    manual = sum(float(full[len(ids) - 1 + j, ten[j]]) for j in range(2))
    assert dist.logprobs["10"] == pytest.approx(manual, abs=1e-4)
    weights = {c: math.exp(v) for c, v in dist.logprobs.items()}
    assert dist.probs[" true"] == pytest.approx(weights[" true"] / sum(weights.values()))


def test_async_equals_sync(tiny_engine) -> None:
    params = SamplingParams(max_tokens=5)
    sync = tiny_engine.generate([SHORT, LONG], params)
    got = asyncio.run(tiny_engine.agenerate([SHORT, LONG], params))
    assert [g.text for g in got] == [g.text for g in sync]


def test_token_counting_and_truncation_use_the_real_tokenizer(tiny_engine) -> None:
    text = "Reasoning rerankers read passages carefully before ranking them."
    n = tiny_engine.count_tokens(text)
    assert n == len(tiny_engine.tokenizer.encode(text, add_special_tokens=False))
    cut = tiny_engine.truncate_tokens(text, 3)
    assert tiny_engine.count_tokens(cut) == 3 and text.startswith(cut)
    assert tiny_engine.truncate_tokens(text, 1000) == text


def test_prompt_longer_than_context_is_a_clear_error(tiny_model_path) -> None:
    from reasonrank.engines.transformers import TransformersEngine

    small = TransformersEngine(str(tiny_model_path), device="cpu", dtype="float32", max_context=16)
    with pytest.raises(PromptTooLongError, match="16"):
        small.generate([LONG], SamplingParams(max_tokens=2))


def test_choice_scoring_of_long_prompts_keeps_memory_small(tiny_model_path) -> None:
    """Scoring reads the last position's logits only. Computing the LM head over every prompt
    position needs batch x prompt x vocab floats: here 4 x ~6k x 152k x 4 bytes = 14 GB, which
    OOM-killed the test suite (issue 30). Run in a fresh process so its peak RSS is its own."""
    import subprocess
    import sys

    script = f"""
import resource
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.transformers import TransformersEngine
engine = TransformersEngine(model={str(tiny_model_path)!r}, device="cpu", dtype="float32", max_batch_size=4)
requests = [ChatRequest.of([{{"role": "user", "content": "word " * 6000 + str(i)}}]) for i in range(4)]
dists = engine.choice_logprobs(requests, ["true", "false"])
assert len(dists) == 4 and all(d.prompt_tokens > 6000 for d in dists)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_mb = int(out.stdout.split()[-1])
    assert peak_mb < 4000, f"peak RSS {peak_mb} MB while scoring 4 long prompts"
