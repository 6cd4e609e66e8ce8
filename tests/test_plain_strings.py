"""The one-liner: ``rerank(query, ["text", ...])`` with plain strings (ids are positions), and
``rank``-style results with indices (through the one function that turns input into candidates)."""
from __future__ import annotations

from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.factory import build_reranker
from reasonrank.testing.scripted_engines import reverse_window


def test_plain_strings_and_rank_style_results():
    reranker = build_reranker(method="listwise", engine=ScriptedEngine(reverse_window))
    texts = ["text a", "text b", "text c"]
    result = reranker.rerank("q", texts)
    assert result.indices == [2, 1, 0] and result.ids == ["2", "1", "0"]
    assert [texts[r.index] for r in result.ranked] == [r.candidate.text for r in result.ranked]
    assert result.as_rank(top_k=2) == [{"corpus_id": 2, "score": 1.0, "text": "text c"},
                                       {"corpus_id": 1, "score": 0.5, "text": "text b"}]


async def test_plain_strings_async_and_batched():
    reranker = build_reranker(method="listwise", engine=ScriptedEngine(reverse_window))
    assert (await reranker.arerank("q", ["x", "y"])).indices == [1, 0]
    assert [r.indices for r in reranker.rerank_batch([("q", ["x", "y"]), ("p", ["z"])])] == [[1, 0], [0]]
