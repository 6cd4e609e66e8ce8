"""Setwise (Rank-R1 prompt) on the embedded llama.cpp model (Qwen2.5-0.5B-Instruct GGUF): the real
prompts reach a real instruction model, and whatever it writes, every candidate comes back once."""
from __future__ import annotations

from reasonrank.methods.setwise import SetwiseReranker


def test_embedded_setwise_every_candidate_once(embedded_engine, river):
    reranker = SetwiseReranker(embedded_engine, set_size=3, top_k=2, reasoning_budget=96, max_passage_tokens=40)
    query, docs = river
    result = reranker.rerank(query, docs)
    assert sorted(result.ids) == sorted(d["id"] for d in docs)
    assert result.usage.engine_calls >= 1 and all(t.kind == "set" for t in result.traces)
