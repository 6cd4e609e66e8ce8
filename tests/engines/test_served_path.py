"""The served path's own cost: server-side tokenization (vLLM's /tokenize and /detokenize
shapes) batched, concurrent and cached; the model's tokenizer found offline when it is on this
machine; passages cut once per run; the line-wise ftfy shortcut equal to ftfy. Against the
instant server (reasonrank.testing.servers.instant_openai, a real HTTP server in a subprocess); the same
calls against a real vLLM server are in test_vllm_served.py (vLLM CI step)."""
from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest
from ftfy import fix_text
from reasonrank import load_reranker
from reasonrank.engines.openai import OpenAIEngine, find_local_tokenizer
from reasonrank.engines.remote_tokenizer import surely_fits
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.passages import fix_text_fast
from reasonrank.testing.servers.instant_openai import instant_server

LONG = "Reasoning rerankers read every candidate passage carefully, then answer. " * 12


@pytest.fixture(scope="module")
def server():
    with instant_server() as url:
        yield url


def stats(url: str) -> dict[str, int]:
    return httpx.get(url[: -len("/v1")] + "/stats").json()["count"]


def delta(url: str, before: dict[str, int], path: str) -> int:
    return stats(url).get(path, 0) - before.get(path, 0)


def docs(n: int, words: int = 120) -> list[dict[str, str]]:
    return [{"id": f"d{i}", "text": f"doc {i} é " + "word " * (words + i)} for i in range(n)]


# -- tokenization through the server -------------------------------------------------------
def test_vllm_dialect_one_tokenize_per_distinct_text_and_exact_cut(server) -> None:
    engine = OpenAIEngine("no-such-org/no-such-model", base_url=server)
    assert engine.tokenizer is None
    before = stats(server)
    n = engine.count_tokens(LONG)
    cut = engine.truncate_tokens(LONG, 10)
    assert engine.count_tokens(LONG) == n  # cached: no second round trip
    assert engine.remote_tokenizer.dialect.name == "vllm"
    assert engine.remote_tokenizer.max_model_len == 32768
    assert delta(server, before, "/tokenize") == 1 and delta(server, before, "/detokenize") == 1
    assert LONG.startswith(cut) and engine.count_tokens(cut) == 10


def test_truncate_many_is_concurrent_and_skips_texts_that_surely_fit(server) -> None:
    engine = OpenAIEngine("no-such-model", base_url=server, max_concurrency=8)
    texts = [f"{i} {LONG}" for i in range(30)] + ["short ascii"] * 5 + [LONG]
    before = stats(server)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0)

    async def run() -> list[str]:
        task = asyncio.ensure_future(ticker())
        try:
            return await engine.atruncate_many(texts, 20)
        finally:
            task.cancel()
            await engine.aclose()

    cuts = asyncio.run(run())
    assert delta(server, before, "/tokenize") == 31  # 30 distinct long texts + LONG, once each
    assert cuts[30:35] == ["short ascii"] * 5
    assert all(engine.count_tokens(c) == 20 for c in cuts[:30])
    assert len(ticks) > 31  # the loop kept running while the server answered: nothing blocked it


def test_a_run_larger_than_the_token_cache_asks_once_per_text(server) -> None:
    from reasonrank.engines.remote_tokenizer import RemoteTokenizer

    engine = OpenAIEngine("no-such-model", base_url=server)
    engine.remote_tokenizer = RemoteTokenizer(server.removesuffix("/v1"), "no-such-model", cache_size=2)
    texts = [f"{i} {LONG}" for i in range(6)]
    before = stats(server)
    cuts = engine.truncate_many(texts + texts[:2], 8)
    assert delta(server, before, "/tokenize") == 6 and delta(server, before, "/detokenize") == 6
    assert cuts[6:] == cuts[:2] and len(engine.remote_tokenizer.cache) == 2


def test_surely_fits_is_conservative() -> None:
    assert surely_fits("a" * 10, 12) and not surely_fits("a" * 11, 12)
    assert not surely_fits("é", 100)  # non-ASCII always asks the server


def test_unknown_server_dialect_is_a_clear_error() -> None:
    from reasonrank.errors import EngineError
    from reasonrank.testing.servers.fault_server import fault_server

    with fault_server("500") as (url, _state):
        engine = OpenAIEngine("m", base_url=url, max_retries=0)
        with pytest.raises(EngineError, match="HTTP 500"):
            engine.count_tokens(LONG)


# -- a local tokenizer when the model is on this machine ------------------------------------
def test_local_tokenizer_found_offline_and_used_without_server_tokenize(server, tiny_model_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert find_local_tokenizer("default") is None
    assert find_local_tokenizer("no-such-org/no-such-model") is None
    engine = OpenAIEngine(str(tiny_model_path), base_url=server)  # the model's folder
    assert engine.tokenizer is not None
    before = stats(server)
    ids = engine.tokenizer.encode(LONG, add_special_tokens=False)
    assert engine.truncate_many([LONG], 7) == [engine.tokenizer.decode(ids[:7])]
    assert delta(server, before, "/tokenize") == 0
    assert engine._payload(engine_request(), _params())[0] == "/chat/completions"  # server's template


def engine_request():
    from reasonrank.engines.base import ChatRequest

    return ChatRequest.of([{"role": "user", "content": "hi"}])


def _params():
    from reasonrank.engines.base import SamplingParams

    return SamplingParams(max_tokens=4)


# -- the default served preset, end to end ----------------------------------------------------
def test_default_preset_against_the_instant_server(server) -> None:
    reranker = load_reranker(preset="reasonrank-7b", engine="openai", base_url=server, max_passage_tokens=100)
    assert reranker.engine.tokenizer is None and reranker.engine.max_concurrency > 1
    items = [(f"query {q}", [{**d, "id": f"q{q}-{d['id']}"} for d in docs(100)]) for q in range(3)]
    before = stats(server)
    results = reranker.rerank_batch(items)
    for (_, cands), result in zip(items, results):
        assert sorted(result.ids) == sorted(c["id"] for c in cands) and not result.warnings
    # 9 windows a query; each distinct passage text (the three queries share the same 100)
    # tokenized once per run, although it is in two windows of each query
    assert delta(server, before, "/v1/chat/completions") == 27
    assert delta(server, before, "/tokenize") == 100
    # the instant server reverses each window: the prompt really carried cut passages
    first = results[0].traces[0]
    assert len(first.candidate_ids) == 20


def test_async_batches_share_one_engine(server) -> None:
    reranker = load_reranker(preset="reasonrank-7b", engine="openai", base_url=server)

    async def run():
        try:
            return await asyncio.gather(*(reranker.arerank(f"q{i}", docs(30, 10)) for i in range(6)))
        finally:
            await reranker.engine.aclose()

    results = asyncio.run(run())
    assert all(sorted(r.ids) == sorted(d["id"] for d in docs(30, 10)) for r in results)


# -- once per passage per run ---------------------------------------------------------------
class CountingEngine(ScriptedEngine):
    def __init__(self) -> None:
        super().__init__(lambda r: "<think>x</think> <answer>[1] > [2]</answer>", max_concurrency=4)
        self.cut_calls = 0

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        self.cut_calls += 1
        return " ".join(text.split()[:max_tokens])


@pytest.mark.parametrize("schedule", ["pipeline", "batch"])
def test_each_passage_is_cut_once_per_run(schedule: str) -> None:
    engine = CountingEngine()
    reranker = ListwiseReranker(engine, max_passage_tokens=5, schedule=schedule)
    results = reranker.rerank_batch([("q1", docs(100, 3)), ("q2", docs(100, 3))])
    assert all(len(r.traces) == 9 for r in results)
    # 100 distinct passages (the same in both queries), each in up to two windows of each query
    assert engine.cut_calls == 100
    prompt = engine.calls[0][1][0].messages[-1]["content"]
    assert "[1] doc 80 é word word\n" in prompt  # the bottom window first  # cut to 5 tokens, labels kept


def test_passage_content_outside_a_run_still_works() -> None:
    engine = CountingEngine()
    reranker = ListwiseReranker(engine, max_passage_tokens=3)
    from reasonrank.types import Candidate

    assert reranker.passage_content(Candidate(id="a", text="one [2] three four")) == "one (2) three"
    assert reranker.passage_content(Candidate(id="a", text="one [2] three four")) == "one (2) three"
    assert engine.cut_calls == 2  # no memo outside a run: nothing kept in a long-lived process


# -- ftfy, line by line -----------------------------------------------------------------------
PIECES = ["abc", " XYZ", "09", ".", "<", ">", "&amp;", "&lt;", "&#x2019;", "Ã©", "â€™", "é", "ﬁ", "ｗ",
          "“", "”", "\u2028", "\x85", "<b>", "\r\n", "\r", "\n", "\t", "\x1b[31m", "\x00", "\x7f", "Â ", "[7] "]


def test_fix_text_fast_equals_ftfy_on_random_text() -> None:
    rng = random.Random(0)
    for _ in range(1500):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        assert fix_text_fast(text) == fix_text(text), repr(text)


def test_fix_text_fast_equals_ftfy_on_window_prompts() -> None:
    rng = random.Random(1)
    passages = ["".join(rng.choice(PIECES[:20]) for _ in range(40)) for _ in range(40)]
    fixed = [fix_text(p).replace("\n", " ") for p in passages]
    for start in (0, 10, 20, 10, 0):  # windows overlap: passages come back under new labels
        text = "I will provide you with 20 passages\n" + "".join(
            f"[{k}] {p}\n" for k, p in enumerate(fixed[start:start + 20], 1)) + "Search Query: q."
        assert fix_text_fast(text) == fix_text(text)
    json.dumps(fixed)  # plain strings
