"""The served path against a REAL vLLM server: the CPU build's OpenAI-compatible server
(``python -m vllm.entrypoints.openai.api_server``) on 127.0.0.1 with the tiny model, started once
for the module, and the four methods through ``engine="openai"`` as a ``vllm serve`` user runs
them: ``/tokenize``/``/detokenize`` for passage cuts, ``continue_final_message`` for assistant
prefixes, ``logprobs``/``top_logprobs`` for scores. Runs in the vLLM CI step (scripts/ci_vllm.sh)."""
from __future__ import annotations

import asyncio
import math

import pytest

pytest.importorskip("vllm", reason="vllm is not installed here: scripts/ci_vllm.sh runs these tests in their own venv")

from reasonrank import load_reranker
from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.engines.openai import OpenAIEngine

pytestmark = pytest.mark.vllm

SERVED = "tiny-served"  # a name no local tokenizer answers to: the server tokenizes
DOCS = [{"id": f"d{i}", "text": f"Passage {i} about topic {i % 5}: " + "more words here, " * (i % 7) + "é"}
        for i in range(25)]
QUERIES = ["what is topic 3", "where is topic 1"]
LONG = "Reasoning rerankers read every candidate passage carefully before they answer. " * 6


@pytest.fixture(scope="module")
def model_dir():
    from reasonrank.testing.tiny_model import tiny_model_dir

    return tiny_model_dir(variant="vllm")


@pytest.fixture(scope="module")
def server(model_dir):
    from reasonrank.testing.servers.vllm_server import vllm_openai_server

    # The second name is the model's folder: a client given it finds the tokenizer locally.
    with vllm_openai_server(model_dir, [SERVED, str(model_dir)]) as url:
        yield url


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def no_engine_errors(results) -> None:
    for r in results:
        assert not [w for w in r.warnings if "engine error" in w.lower()], r.warnings


def every_id_once(results, docs=DOCS) -> None:
    for r in results:
        assert sorted(r.ids) == sorted(d["id"] for d in docs)


def test_server_tokenizes_and_cuts_exactly_like_the_models_tokenizer(server, hf_tokenizer) -> None:
    engine = OpenAIEngine(SERVED, base_url=server)
    assert engine.tokenizer is None  # not on this machine under that name
    ids = hf_tokenizer.encode(LONG, add_special_tokens=False)
    assert engine.count_tokens(LONG) == len(ids)
    assert engine.remote_tokenizer.dialect.name == "vllm"
    assert engine.remote_tokenizer.max_model_len == 4096
    assert engine.truncate_tokens(LONG, 7) == hf_tokenizer.decode(ids[:7])
    cuts = engine.truncate_many([LONG, "short", LONG + " é"], 5)
    assert cuts[0] == hf_tokenizer.decode(ids[:5]) and cuts[1] == "short"
    assert engine.count_tokens(cuts[2]) <= 5


def test_concurrent_truncation_in_the_event_loop(server, hf_tokenizer) -> None:
    engine = OpenAIEngine(SERVED, base_url=server, max_concurrency=8)
    texts = [f"{i} " + LONG for i in range(24)]

    async def run() -> list[str]:
        try:
            return await engine.atruncate_many(texts, 9)
        finally:
            await engine.aclose()

    cuts = asyncio.run(run())
    assert cuts == [hf_tokenizer.decode(hf_tokenizer.encode(t, add_special_tokens=False)[:9]) for t in texts]


def test_model_folder_name_finds_the_local_tokenizer(server, model_dir) -> None:
    engine = OpenAIEngine(str(model_dir), base_url=server)
    assert engine.tokenizer is not None  # found offline, used for tokens only
    (gen,) = engine.generate([ChatRequest.of([{"role": "user", "content": "hi"}])], SamplingParams(max_tokens=4))
    assert gen.completion_tokens == 4 and gen.prompt_tokens > 3  # still /v1/chat/completions


def test_continue_final_message_and_logprobs(server) -> None:
    engine = OpenAIEngine(SERVED, base_url=server)
    req = ChatRequest.of([{"role": "user", "content": "Is this relevant?"}], assistant_prefix="<think>")
    (gen,) = engine.generate([req], SamplingParams(max_tokens=3))
    assert gen.completion_tokens == 3
    (dist,) = engine.choice_logprobs([req], [" true", " false"])
    assert sum(dist.probs.values()) == pytest.approx(1.0)
    assert dist.prompt_tokens > 5


def test_listwise_default_preset_through_vllm_serve(server) -> None:
    reranker = load_reranker(preset="reasonrank-7b", engine="openai", model=SERVED, base_url=server,
                             reasoning_budget=16, answer_tokens=16, max_passage_tokens=12, on_error="keep_order")
    results = reranker.rerank_batch([(q, DOCS) for q in QUERIES])
    every_id_once(results)
    no_engine_errors(results)
    assert all(len(r.traces) == 2 and r.traces[0].prompt_tokens > 100 for r in results)
    assert reranker.engine.remote_tokenizer.dialect.name == "vllm"


def test_pointwise_rank1_through_vllm_serve(server) -> None:
    reranker = load_reranker(preset="rank1-7b", engine="openai", model=SERVED, base_url=server,
                             reasoning_budget=8, on_error="keep_order")
    results = reranker.rerank_batch([(q, DOCS[:6]) for q in QUERIES])
    every_id_once(results, DOCS[:6])
    no_engine_errors(results)
    assert all(0.0 <= rc.score <= 1.0 and not math.isnan(rc.score) for r in results for rc in r.ranked)


def test_rebel_through_vllm_serve(server) -> None:
    reranker = load_reranker(preset="rebel-openai", model=SERVED, base_url=server,
                             reasoning_budget=16, on_error="keep_order")
    results = reranker.rerank_batch([(q, DOCS[:5]) for q in QUERIES])
    every_id_once(results, DOCS[:5])
    no_engine_errors(results)


def test_setwise_rank_r1_through_vllm_serve(server) -> None:
    reranker = load_reranker(preset="rank-r1-7b", engine="openai", model=SERVED, base_url=server,
                             reasoning_budget=8, set_size=4, top_k=3, on_error="keep_order")
    results = reranker.rerank_batch([(q, DOCS[:10]) for q in QUERIES])
    every_id_once(results, DOCS[:10])
    no_engine_errors(results)
