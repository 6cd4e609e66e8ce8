"""Pointwise reranker end to end on the tiny random Qwen2 model (real tokenizer, real engine)."""
from __future__ import annotations

import pytest
from reasonrank.methods.pointwise import PointwiseReranker

QUERIES = {
    "what do cats eat": ["Cats are carnivores and eat meat.", "The stock market fell today.",
                         "Dogs and cats are pets.", "Fish live in water."],
    "capital of france": ["Paris is the capital of France.", "Berlin is in Germany.",
                          "France borders Spain."],
}


def items(per_query: int = 4):
    return [(q, [{"id": f"{n}-{i}", "text": t} for i, t in enumerate(texts[:per_query])])
            for n, (q, texts) in enumerate(QUERIES.items())]


@pytest.mark.parametrize("mode,high", [("binary", 1.0), ("graded", 10.0)])
def test_tiny_model_end_to_end_and_batching_equals_one_at_a_time(tiny_engine, monkeypatch, mode, high):
    per_query = 4
    if mode == "graded":
        # The engine teacher-forces 11 multi-token choices with full-vocabulary logits over the
        # whole prompt: keep its batch (and memory) small on this CPU.
        monkeypatch.setattr(tiny_engine, "max_batch_size", 1)
        per_query = 2
    reranker = PointwiseReranker(tiny_engine, mode=mode, reasoning_budget=6)
    together = reranker.rerank_batch(items(per_query))
    for (query, cands), result in zip(items(per_query), together):
        assert sorted(result.ids) == sorted(c["id"] for c in cands)  # every candidate once
        assert all(0.0 <= r.score <= high for r in result.ranked)
        scores = [r.score for r in result.ranked]
        assert scores == sorted(scores, reverse=True)
        assert len(result.traces) == len(cands)
        assert all(t.completion_tokens <= 6 for t in result.traces)
        alone = reranker.rerank(query, cands)
        assert alone.ids == result.ids
        assert [r.score for r in alone.ranked] == pytest.approx([r.score for r in result.ranked], abs=1e-4)
