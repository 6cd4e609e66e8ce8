"""REBEL on the embedded llama.cpp model (Qwen2.5-0.5B-Instruct GGUF): the real
prompts reach a real instruction model, and whatever it writes, every candidate comes back once."""
from __future__ import annotations

from reasonrank.methods.multicriteria import RebelReranker


def test_embedded_rebel_scores_every_passage(embedded_engine, river):
    reranker = RebelReranker(embedded_engine, criteria={"relevance": 0.7, "clarity": 0.3},
                             reasoning_budget=96, max_passage_tokens=40)
    query, docs = river
    result = reranker.rerank(query, docs)
    assert sorted(result.ids) == sorted(d["id"] for d in docs)
    assert all(set(r.criteria) == {"relevance", "clarity"} for r in result.ranked)
    assert all(0 <= r.criteria["relevance"] <= 10 and 0 <= r.criteria["clarity"] <= 5 for r in result.ranked)
    assert result.usage.engine_calls == 3 and result.usage.completion_tokens > 0
