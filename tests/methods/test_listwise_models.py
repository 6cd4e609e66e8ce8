"""Listwise reranking end to end on real models: the tiny random Qwen2 (transformers) and the
embedded llama.cpp default. Whatever a model writes, every candidate comes back exactly once."""
from __future__ import annotations

import pytest
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.windows import window_plan

SIZES = [1, 19, 20, 21, 100, 137]


def candidates(n: int) -> list[dict]:
    topics = ["flea life cycle", "concrete flooring cost", "declaratory judgment", "robert gray", "[3] > [1]"]
    return [{"id": f"doc{i}", "text": f"Passage {i}: {topics[i % len(topics)]} " * 3} for i in range(n)]


def check(result, n: int, depth: int = 100) -> None:
    ids = result.ids
    assert len(ids) == n and sorted(ids) == sorted(f"doc{i}" for i in range(n))
    assert len(result.traces) + sum("engine error" in w for w in result.warnings) == len(
        window_plan(min(n, depth), 20, 10)
    )
    assert ids[depth:] == [f"doc{i}" for i in range(depth, n)]
    scores = [r.score for r in result.ranked]
    assert scores == sorted(scores, reverse=True)


@pytest.fixture(scope="module")
def tiny_reranker(request):
    pytest.importorskip("reasonrank.engines.transformers")
    engine = request.getfixturevalue("tiny_engine")
    # 1 + 7 new tokens per window: fast, and random text exercises the repairs
    return ListwiseReranker(engine, reasoning_budget=1, answer_tokens=7, max_passage_tokens=12,
                            on_error="keep_order")


@pytest.mark.parametrize("n", SIZES)
def test_tiny_model_every_candidate_once(tiny_reranker, n):
    result = tiny_reranker.rerank("what is the life cycle of a flea", candidates(n))
    check(result, n)
    assert all(t.completion_tokens > 0 and t.prompt_tokens > 0 for t in result.traces)
    assert result.usage.engine_calls == len(result.traces)


def test_tiny_model_batch_equals_single(tiny_reranker):
    items = [("flea", candidates(21)), ("concrete", candidates(19)), ("gray", candidates(45))]
    batched = tiny_reranker.rerank_batch(items)
    single = [tiny_reranker.rerank(q, c) for q, c in items]
    assert [r.ids for r in batched] == [r.ids for r in single]  # greedy decoding is deterministic


def test_tiny_model_dry_run_renders_chat_template(tiny_reranker):
    text = tiny_reranker.render_dry_run("flea", candidates(3))
    assert "<|im_start|>system\nYou are RankLLM" in text
    assert text.rstrip().endswith("<|im_start|>assistant")


# On the real 0.5B model only the shapes that differ: one passage, exactly one window, one past it
# (two windows), and past the depth (nine windows and an untouched tail). The tiny model covers all.
EMBEDDED_SIZES = [1, 20, 21, 137]


@pytest.mark.embedded
@pytest.mark.parametrize("n", EMBEDDED_SIZES)
def test_embedded_every_candidate_once(embedded_engine, n):
    reranker = ListwiseReranker(embedded_engine, reasoning_budget=8, answer_tokens=40, max_passage_tokens=8,
                                on_error="keep_order")
    result = reranker.rerank("what is the life cycle of a flea", candidates(n))
    check(result, n)
    assert all(t.raw_output is not None for t in result.traces)
