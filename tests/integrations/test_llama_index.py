"""LlamaIndex postprocessors: scores, order, metadata, async, events, edge cases, query engine."""
from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import VectorStoreIndex
from llama_index.core.bridge.pydantic import ValidationError
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.spec import RerankerSpec, spec_fields
from rr_integration_helpers import EXPECTED_ORDER, EXPECTED_SCORES, QUERY, TEXTS, collect_events

from llama_index_reasonrank import (
    CRITERIA_KEY,
    REASONING_KEY,
    RETRIEVAL_SCORE_KEY,
    Rank1Rerank,
    ReasonRankRerank,
    RebelRerank,
    SetwiseRerank,
)
from llama_index_reasonrank.llm import ReasonRankLLM


def make_nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}", metadata={"src": f"doc{i}"}), score=1.0 - i / 10)
        for i, t in enumerate(TEXTS)
    ]


def test_is_a_node_postprocessor_with_described_fields() -> None:
    for cls in (ReasonRankRerank, Rank1Rerank, RebelRerank, SetwiseRerank):
        assert BaseNodePostprocessor in cls.__mro__
    undocumented = [n for n, f in ReasonRankRerank.model_fields.items() if n != "callback_manager" and not f.description]
    assert undocumented == []


def test_options_are_the_spec_fields_under_the_same_names() -> None:
    assert set(spec_fields()) - set(ReasonRankRerank.model_fields) == {"show_progress"}
    rr = ReasonRankRerank(method="listwise", depth=5, on_parse_error="raise", fusion="rrf", top_n=2)
    assert rr.spec() == RerankerSpec(method="listwise", depth=5, on_parse_error="raise", fusion="rrf")
    assert rr.to_dict()["depth"] == 5
    with pytest.raises(ValidationError):
        ReasonRankRerank(depth=0)


def test_no_argument_construction_is_lazy_and_picks_the_method() -> None:
    assert ReasonRankRerank().method is None  # the library's default preset
    assert Rank1Rerank().method == "pointwise"
    assert RebelRerank().method == "rebel"
    assert SetwiseRerank().method == "setwise"
    assert ReasonRankRerank()._reranker is None  # nothing loads until the first query


def test_scores_order_and_metadata(keyword_reranker) -> None:
    nodes = make_nodes()
    out = ReasonRankRerank(reranker=keyword_reranker, top_n=5).postprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.node_id for n in out] == [f"n{i}" for i in EXPECTED_ORDER]
    assert [n.score for n in out] == EXPECTED_SCORES
    top = out[0].node.metadata
    assert top["src"] == "doc1"
    assert top[RETRIEVAL_SCORE_KEY] == pytest.approx(0.9)
    assert top[REASONING_KEY] == "the passage shares 4 query words"
    assert top[CRITERIA_KEY] == {"overlap": 4.0, "length": float(len(TEXTS[1]))}
    assert top["reasonrank_rank"] == 0 and top["reasonrank_method"] == "keyword-test"
    # The added keys stay out of what the LLM and the embedder read.
    assert "shares 4" not in out[0].node.get_content(metadata_mode=MetadataMode.LLM)
    assert "src: doc1" in out[0].node.get_content(metadata_mode=MetadataMode.LLM)


def test_input_nodes_are_not_mutated(keyword_reranker) -> None:
    nodes = make_nodes()
    out = ReasonRankRerank(reranker=keyword_reranker).postprocess_nodes(nodes, query_str=QUERY)
    assert [n.score for n in nodes] == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    assert all(set(n.node.metadata) == {"src"} for n in nodes)
    assert all(o is not n and o.node is not n.node for o in out for n in nodes)


def test_query_bundle_equals_query_str(keyword_reranker) -> None:
    rr = ReasonRankRerank(reranker=keyword_reranker, top_n=3)
    a = rr.postprocess_nodes(make_nodes(), query_str=QUERY)
    b = rr.postprocess_nodes(make_nodes(), query_bundle=QueryBundle(QUERY))
    assert [(n.node.node_id, n.score) for n in a] == [(n.node.node_id, n.score) for n in b]
    with pytest.raises(ValueError, match="Query bundle must be provided"):
        rr.postprocess_nodes(make_nodes())


async def test_async_equals_sync_and_runs_concurrently(slow_reranker) -> None:
    rr = ReasonRankRerank(reranker=slow_reranker, top_n=4)
    sync = rr.postprocess_nodes(make_nodes(), query_str=QUERY)
    start = time.perf_counter()
    asy = await rr.apostprocess_nodes(make_nodes(), query_str=QUERY)
    elapsed = time.perf_counter() - start
    assert [(n.node.node_id, n.score, n.node.metadata) for n in asy] == [
        (n.node.node_id, n.score, n.node.metadata) for n in sync
    ]
    assert slow_reranker.engine.max_in_flight_seen == len(TEXTS)  # all pairs in flight at once
    assert elapsed < 0.2 * len(TEXTS) * 0.6  # far below the sequential 1.0 s


def test_events_are_emitted(keyword_reranker) -> None:
    rr = ReasonRankRerank(reranker=keyword_reranker, top_n=2)
    with collect_events() as events:
        out = rr.postprocess_nodes(make_nodes(), query_str=QUERY)
    start = [e for e in events if e.class_name() == "ReRankStartEvent"]
    end = [e for e in events if e.class_name() == "ReRankEndEvent"]
    assert len(start) == 1 and len(end) == 1
    assert start[0].top_n == 2 and start[0].model_name == "scripted-keyword"
    assert start[0].query.query_str == QUERY and len(start[0].nodes) == len(TEXTS)
    assert [n.node.node_id for n in end[0].nodes] == [n.node.node_id for n in out]


async def test_events_are_emitted_async(keyword_reranker) -> None:
    rr = ReasonRankRerank(reranker=keyword_reranker, top_n=2)
    with collect_events() as events:
        await rr.apostprocess_nodes(make_nodes(), query_str=QUERY)
    assert [e.class_name() for e in events if "ReRank" in e.class_name()] == ["ReRankStartEvent", "ReRankEndEvent"]


def test_empty_input_returns_empty(keyword_reranker) -> None:
    assert ReasonRankRerank(reranker=keyword_reranker).postprocess_nodes([], query_str=QUERY) == []
    assert keyword_reranker.engine.calls == []


def test_top_n_larger_than_input_returns_all(keyword_reranker) -> None:
    out = ReasonRankRerank(reranker=keyword_reranker, top_n=50).postprocess_nodes(make_nodes(), query_str=QUERY)
    assert sorted(n.node.node_id for n in out) == sorted(f"n{i}" for i in range(len(TEXTS)))


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_top_n_is_an_error(bad: int) -> None:
    with pytest.raises(ValidationError):
        ReasonRankRerank(top_n=bad)


def test_metadata_opt_out(keyword_reranker) -> None:
    rr = ReasonRankRerank(reranker=keyword_reranker, keep_reasoning_metadata=False, keep_retrieval_score=False)
    out = rr.postprocess_nodes(make_nodes(), query_str=QUERY)
    assert all(set(n.node.metadata) == {"src"} for n in out)
    assert [n.score for n in out] == EXPECTED_SCORES


def test_duplicate_node_ids_are_kept(keyword_reranker) -> None:
    node = TextNode(text=TEXTS[1], id_="same")
    nodes = [NodeWithScore(node=node, score=0.5), NodeWithScore(node=node, score=0.4)]
    out = ReasonRankRerank(reranker=keyword_reranker).postprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.metadata[RETRIEVAL_SCORE_KEY] for n in out] == [0.5, 0.4]


def test_serialization_round_trip() -> None:
    rr = Rank1Rerank(top_n=3, engine="openai", model="m", base_url="http://x/v1", method_options={"mode": "graded"})
    data = rr.to_dict()
    assert data["class_name"] == "Rank1Rerank" and data["method"] == "pointwise"
    back = Rank1Rerank.from_dict(data)
    assert back.to_dict() == data


def test_engine_object_is_used(scripted_engine, monkeypatch) -> None:
    seen: list[RerankerSpec] = []

    def fake_build(spec: RerankerSpec, **kwargs: Any) -> Any:
        seen.append(spec)
        from rr_integration_helpers import KeywordReranker

        return KeywordReranker(spec.engine)

    monkeypatch.setattr(RerankerSpec, "build", fake_build)
    rr = RebelRerank(engine=scripted_engine, method_options={"criteria": ["recency"]}, on_error="keep_order")
    out = rr.postprocess_nodes(make_nodes(), query_str=QUERY)
    assert seen[0].engine is scripted_engine and seen[0].method == "rebel"
    assert seen[0].method_options == {"criteria": ["recency"]} and seen[0].on_error == "keep_order"
    assert rr.engine == "scripted" and rr.model == "scripted-keyword"
    assert out[0].node.node_id == "n1"
    rr.postprocess_nodes(make_nodes(), query_str=QUERY)
    assert len([c for c in scripted_engine.calls if c[0] == "generate"]) == 2  # built once, reused


def test_query_engine_with_postprocessor(keyword_reranker) -> None:
    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(TEXTS)]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
    prompts: list[str] = []

    def answer(request: Any) -> str:
        prompts.append(request.messages[-1]["content"])
        return "Fleas live up to a year."

    llm = ReasonRankLLM(engine=ScriptedEngine(answer, model_name="answerer"))
    qe = index.as_query_engine(llm=llm, similarity_top_k=5, node_postprocessors=[ReasonRankRerank(reranker=keyword_reranker, top_n=2)])
    response = qe.query(QUERY)
    assert str(response) == "Fleas live up to a year."
    assert [n.node.node_id for n in response.source_nodes] == ["n1", "n3"]
    assert TEXTS[1] in prompts[-1] and TEXTS[3] in prompts[-1] and TEXTS[0] not in prompts[-1]
    assert "shares" not in prompts[-1]  # the reasoning metadata does not leak into the prompt


async def test_query_engine_async(keyword_reranker) -> None:
    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(TEXTS)]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
    llm = ReasonRankLLM(engine=ScriptedEngine(lambda r: "ok", model_name="answerer"))
    qe = index.as_query_engine(llm=llm, similarity_top_k=5, node_postprocessors=[ReasonRankRerank(reranker=keyword_reranker, top_n=2)])
    response = await qe.aquery(QUERY)
    assert str(response) == "ok"
    assert [n.node.node_id for n in response.source_nodes] == ["n1", "n3"]
    assert any(kind == "agenerate" for kind, _ in keyword_reranker.engine.calls)


def test_llama_index_integration_import_path() -> None:
    from llama_index.postprocessor.reasonrank import ReasonRankRerank as FromNamespace

    assert FromNamespace is ReasonRankRerank
