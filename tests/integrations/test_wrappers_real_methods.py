"""The wrappers over the real listwise method: scripted ReasonRank-format answers (exact order and
reasoning), and the tiny random transformers model (every candidate back once, whatever it wrote)."""
from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core")
pytest.importorskip("haystack")

from haystack import Document
from llama_index.core.schema import NodeWithScore, TextNode
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.factory import build_reranker
from rr_integration_helpers import EXPECTED_ORDER, QUERY, TEXTS, reasonrank_answer

from haystack_reasonrank import REASONING_KEY, ReasonRankRanker
from llama_index_reasonrank import ReasonRankRerank


def nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=float(-i)) for i, t in enumerate(TEXTS)]


def docs() -> list[Document]:
    return [Document(content=t, score=float(-i)) for i, t in enumerate(TEXTS)]


def test_llama_index_over_listwise_with_scripted_answers() -> None:
    engine = ScriptedEngine(reasonrank_answer, model_name="scripted-reasonrank")
    rr = ReasonRankRerank(engine=engine, method="listwise", top_n=3)
    out = rr.postprocess_nodes(nodes(), query_str=QUERY)
    assert [n.node.node_id for n in out] == [f"n{i}" for i in EXPECTED_ORDER[:3]]
    assert [n.score for n in out] == [1.0, 0.5, pytest.approx(1 / 3)]  # listwise: reciprocal rank
    assert "shares the most query words" in out[0].node.metadata[REASONING_KEY]


async def test_haystack_over_listwise_async_equals_sync() -> None:
    engine = ScriptedEngine(reasonrank_answer, model_name="scripted-reasonrank")
    ranker = ReasonRankRanker(reranker=build_reranker(method="listwise", engine=engine), top_k=5)
    sync = ranker.run(query=QUERY, documents=docs())
    asy = await ranker.run_async(query=QUERY, documents=docs())
    assert [d.content for d in sync["documents"]] == [TEXTS[i] for i in EXPECTED_ORDER]
    assert [(d.id, d.score) for d in asy["documents"]] == [(d.id, d.score) for d in sync["documents"]]
    assert sync["meta"]["warnings"] == []


def test_keep_order_on_unparsable_output_warns(caplog) -> None:
    engine = ScriptedEngine(lambda r: "I cannot rank these.", model_name="confused")
    ranker = ReasonRankRanker(engine=None, reranker=build_reranker(method="listwise", engine=engine, on_error="keep_order"))
    with caplog.at_level("WARNING"):
        out = ranker.run(query=QUERY, documents=docs())
    assert [d.content for d in out["documents"]] == TEXTS  # input order kept
    assert out["meta"]["warnings"] and "kept input order" in caplog.text


def test_wrappers_on_the_tiny_transformers_model(request) -> None:
    pytest.importorskip("reasonrank.engines.transformers", reason="the transformers engine is not installed")
    tiny_engine = request.getfixturevalue("tiny_engine")
    reranker = build_reranker(method="listwise", engine=tiny_engine, on_error="keep_order", reasoning_budget=16)
    out = ReasonRankRerank(reranker=reranker, top_n=10).postprocess_nodes(nodes(), query_str=QUERY)
    assert sorted(n.node.node_id for n in out) == sorted(f"n{i}" for i in range(len(TEXTS)))
    assert [n.score for n in out] == sorted((n.score for n in out), reverse=True)
    hs = ReasonRankRanker(reranker=reranker, top_k=10).run(query=QUERY, documents=docs())
    assert sorted(d.content for d in hs["documents"]) == sorted(TEXTS)
    assert hs["meta"]["model"] == tiny_engine.model_name
