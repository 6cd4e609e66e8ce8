"""Continuous batching on the transformers engine (``continuous_batching=True``), on the tiny
Qwen2 model: greedy results equal the plain ``generate`` path, rerankers pipeline on it, and the
other paths (choice scoring) keep working beside the running batch."""
from __future__ import annotations

import asyncio

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers.generation.continuous_batching")

from reasonrank.engines.base import ChatRequest, SamplingParams

REQUESTS = [
    ChatRequest.of([{"role": "user", "content": "hello there"}]),
    ChatRequest.of(
        [{"role": "system", "content": "You rank passages."},
         {"role": "user", "content": "a much longer prompt with many more words in it, to exercise the paged cache"}],
        assistant_prefix="<think>",
    ),
    ChatRequest.of([{"role": "user", "content": "Rank: [1] cats purr. [2] dogs bark. [3] fish swim. " * 3}]),
]


@pytest.fixture(scope="module")
def cb_engine(tiny_model_path):
    from reasonrank.engines.transformers import TransformersEngine

    engine = TransformersEngine(model=str(tiny_model_path), device="cpu", dtype="float32",
                                continuous_batching={"num_blocks": 16, "max_batch_tokens": 512})
    yield engine
    engine.close()


def test_greedy_equals_plain_generate(tiny_engine, cb_engine) -> None:
    params = SamplingParams(max_tokens=12)
    plain = tiny_engine.generate(REQUESTS, params)
    continuous = cb_engine.generate(REQUESTS, params)
    assert [g.text for g in continuous] == [g.text for g in plain]
    assert [(g.completion_tokens, g.prompt_tokens, g.finish_reason) for g in continuous] == [
        (g.completion_tokens, g.prompt_tokens, g.finish_reason) for g in plain]
    assert all(g.completion_tokens == 12 and g.finish_reason == "length" for g in continuous)


def test_async_requests_share_the_running_batch(tiny_engine, cb_engine) -> None:
    params = SamplingParams(max_tokens=8)
    assert cb_engine.max_concurrency > 1  # so the listwise "auto" schedule pipelines

    async def submit_one_by_one() -> list:
        return list(await asyncio.gather(*(cb_engine.agenerate([r], params) for r in REQUESTS)))

    got = [gens[0].text for gens in asyncio.run(submit_one_by_one())]
    assert got == [g.text for g in tiny_engine.generate(REQUESTS, params)]


def test_stop_strings_cut_text_and_count_tokens_up_to_the_stop(tiny_engine, cb_engine) -> None:
    # The tiny model repeats one token (">" after this prompt's "<think>"): the stop ">>>" is
    # the first 3 generated tokens. Only generated text counts, as in vLLM and OpenAI servers
    # (the plain path's stop criterion also matches across the prompt's last ">").
    (free,) = tiny_engine.generate([REQUESTS[1]], SamplingParams(max_tokens=12))
    assert free.text == ">" * 12
    (cut,) = cb_engine.generate([REQUESTS[1]], SamplingParams(max_tokens=12, stop=(">>>",)))
    assert (cut.text, cut.finish_reason, cut.completion_tokens) == ("", "stop", 3)


def test_listwise_pipelines_every_candidate_once(cb_engine) -> None:
    from reasonrank.methods.listwise import ListwiseReranker

    items = [(f"query {q}", [{"id": f"q{q}d{i}", "text": f"passage {i} about topic {q}"} for i in range(6)])
             for q in range(3)]
    reranker = ListwiseReranker(cb_engine, window_size=4, stride=2, reasoning_budget=4, answer_tokens=4,
                                on_error="keep_order")
    results = reranker.rerank_batch(items)
    assert [sorted(r.ids) for r in results] == [sorted(c["id"] for c in cands) for _, cands in items]
    assert reranker.last_stats.max_in_flight == 3  # one window per query in flight at once


def test_choice_scoring_beside_the_running_batch(tiny_engine, cb_engine) -> None:
    cb_engine.generate(REQUESTS[:1], SamplingParams(max_tokens=2))  # the manager is running
    (a,) = cb_engine.choice_logprobs(REQUESTS[:1], [" true", " false"])
    (b,) = tiny_engine.choice_logprobs(REQUESTS[:1], [" true", " false"])
    assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_close_frees_the_manager_and_the_next_request_restarts_it(cb_engine) -> None:
    cb_engine.generate(REQUESTS[:1], SamplingParams(max_tokens=2))
    cb_engine._batcher.close()
    assert cb_engine._batcher._manager is None
    (gen,) = cb_engine.generate(REQUESTS[:1], SamplingParams(max_tokens=3))
    assert gen.completion_tokens == 3


def test_sampled_requests_rebuild_the_manager(cb_engine) -> None:
    (gen,) = cb_engine.generate(REQUESTS[:1], SamplingParams(max_tokens=5, temperature=0.8, seed=1))
    assert gen.completion_tokens == 5 and cb_engine._batcher._key[0] == "sample"
    cb_engine.generate(REQUESTS[:1], SamplingParams(max_tokens=2))
    assert cb_engine._batcher._key == ("greedy",)
