"""Model-output failures never end a run by default: every method keeps the input order (or
gives its defined fallback score) with a warning naming the query and the unit, counts it in
``usage.fallbacks``, and raises ``ParseError`` naming the query only when strict. One query's
failure never discards the other queries' results."""
from __future__ import annotations

import logging
import math

import pytest
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError, ParseError
from reasonrank.methods import method_class
from reasonrank.types import Query

pytestmark = pytest.mark.reliability

DOCS = [{"id": f"d{i}", "text": f"passage number {i}"} for i in range(6)]
IDS = [d["id"] for d in DOCS]
METHODS = ["listwise", "pointwise", "rebel", "setwise"]
# What a small model really wrote on DL19 (it echoed a passage instead of ranking).
ECHO = "Larger Using Google Docs you can share a document with anyone."
NO_MASS = {" true": -math.inf, " false": -math.inf}
OPTIONS = {"setwise": {"set_size": 3, "top_k": 3}}


def garbage_engine(**kw) -> ScriptedEngine:
    return ScriptedEngine(lambda r: ECHO, logprob_fn=lambda r, choices: {c: -math.inf for c in choices}, **kw)


def make(method: str, engine, **kw):
    return method_class(method)(engine, **OPTIONS.get(method, {}), **kw)


@pytest.mark.parametrize("method", METHODS)
def test_unusable_output_keeps_input_order_with_a_counted_warning(method: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="reasonrank"):
        result = make(method, garbage_engine()).rerank(Query("what is google docs", id="q7"), DOCS)
    assert result.ids == IDS  # input order (pointwise/rebel: every pair the same fallback score)
    assert result.usage.fallbacks >= 1 and result.usage.engine_fallbacks == 0
    assert result.to_dict()["usage"]["fallbacks"] == result.usage.fallbacks
    assert sum(t.fallback for t in result.traces) == result.usage.fallbacks
    assert result.warnings
    # The log line names the query and the unit (window, set or passage).
    assert "query 'q7'" in caplog.text
    assert any(unit in caplog.text for unit in ("window 1-6", "set d", "passage d"))


@pytest.mark.parametrize("method", METHODS)
def test_strict_raises_one_parse_error_naming_the_query(method: str) -> None:
    reranker = make(method, garbage_engine(), on_parse_error="raise")
    with pytest.raises(ParseError, match="query 'q7'"):
        reranker.rerank(Query("what is google docs", id="q7"), DOCS)


def test_fallback_scores_are_defined() -> None:
    pointwise = make("pointwise", garbage_engine())
    result = pointwise.rerank("q", DOCS)
    assert pointwise.fallback_score == 0.5 and all(r.score == 0.5 for r in result.ranked)
    graded = method_class("pointwise")(garbage_engine(), mode="graded")
    assert graded.fallback_score == pytest.approx(5.0)
    rebel = make("rebel", garbage_engine())
    assert all(r.score == rebel.fallback_score == 0.5 for r in rebel.rerank("q", DOCS).ranked)


def test_only_the_unusable_pairs_fall_back() -> None:
    def logprobs(request: ChatRequest, choices):
        text = request.messages[-1]["content"]
        if "number 2" in text:
            return NO_MASS
        return {" true": -0.1 if "number 4" in text else -3.0, " false": -1.0}

    result = make("pointwise", ScriptedEngine(lambda r: "thinking.", logprob_fn=logprobs)).rerank("q", DOCS)
    assert result.ids[0] == "d4" and result.usage.fallbacks == 1
    assert result.ranked[result.ids.index("d2")].score == 0.5


def test_two_turn_rebel_criteria_turn_falls_back_and_is_counted() -> None:
    engine = ScriptedEngine(lambda r: "relevance: 8\ndepth: 3" if "Passage" in r.messages[-1]["content"] else ECHO)
    result = method_class("rebel")(engine, two_turn=True).rerank("q", DOCS[:2])
    assert result.traces[0].kind == "criteria" and result.traces[0].fallback
    assert result.usage.fallbacks >= 1


@pytest.mark.parametrize("method", METHODS)
def test_a_strict_failure_never_discards_the_other_queries(method: str) -> None:
    def gen(request: ChatRequest) -> str:
        text = " ".join(m["content"] for m in request.messages)
        if "bad query" in text:
            return ECHO
        return ("<think>ok</think><answer>[2] > [1]</answer>" if method in ("listwise", "setwise")
                else "relevance: 7\ndepth: 2\nrecency: 1\nauthority: 1\nclarity: 1")

    def logprobs(request, choices):
        bad = "bad query" in request.messages[-1]["content"]
        return NO_MASS if bad else {" true": -0.2, " false": -2.0}

    reranker = make(method, ScriptedEngine(gen, logprob_fn=logprobs), on_parse_error="raise")
    items = [(Query(f"good query {i}", id=f"g{i}"), DOCS) for i in range(3)]
    items.insert(1, (Query("bad query", id="bad"), DOCS))
    out = reranker.rerank_batch(items, return_exceptions=True)
    assert isinstance(out[1], ParseError) and "query 'bad'" in str(out[1])
    assert [sorted(r.ids) for i, r in enumerate(out) if i != 1] == [sorted(IDS)] * 3
    with pytest.raises(ParseError, match="query 'bad'"):
        reranker.rerank_batch(items)


@pytest.mark.parametrize("method", METHODS)
def test_an_engine_failure_under_raise_names_the_query_and_keeps_the_others(method: str) -> None:
    def gen(request: ChatRequest) -> str:
        if "doomed" in " ".join(m["content"] for m in request.messages):
            raise RuntimeError("connection reset")
        return "<think>ok</think><answer>[1]</answer>\nrelevance: 5"

    # Batch size 1: the failing query's requests go alone, as on a server.
    engine = ScriptedEngine(gen, logprob_fn=lambda r, c: {x: -1.0 for x in c}, max_batch_size=1, max_concurrency=1)
    reranker = make(method, engine)
    items = [(Query("fine", id="a"), DOCS), (Query("doomed", id="b"), DOCS), (Query("fine too", id="c"), DOCS)]
    out = reranker.rerank_batch(items, return_exceptions=True)
    assert isinstance(out[1], EngineError) and "query 'b'" in str(out[1]) and "connection reset" in str(out[1])
    assert sorted(out[0].ids) == sorted(out[2].ids) == sorted(IDS)


def test_engine_fallbacks_are_counted_under_keep_order() -> None:
    def gen(request: ChatRequest) -> str:
        raise RuntimeError("server down")

    result = make("listwise", ScriptedEngine(gen), on_error="keep_order", window_size=4, stride=2).rerank("q", DOCS)
    assert result.ids == IDS and result.usage.engine_fallbacks == 2 and result.usage.fallbacks == 0


def test_bad_policy_value_is_a_clear_error() -> None:
    from reasonrank.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="on_parse_error"):
        method_class("listwise")(ScriptedEngine(), on_parse_error="ignore")


def test_a_fused_reranker_keeps_return_exceptions() -> None:
    """The default preset is fused (ICR + first stage); evaluation calls every reranker with
    ``return_exceptions=True``, so the fusion wrapper must pass it through and fuse only results."""
    from reasonrank.methods.fusion import FusedReranker

    def gen(request: ChatRequest) -> str:
        if "doomed" in " ".join(m["content"] for m in request.messages):
            raise RuntimeError("connection reset")
        return "<think>ok</think><answer>[2] > [1]</answer>"

    engine = ScriptedEngine(gen, max_batch_size=1, max_concurrency=1)
    fused = FusedReranker(make("listwise", engine))
    items = [(Query("fine", id="a"), DOCS), (Query("doomed", id="b"), DOCS)]
    out = fused.rerank_batch(items, return_exceptions=True)
    assert isinstance(out[1], EngineError) and "query 'b'" in str(out[1])
    assert sorted(out[0].ids) == sorted(IDS) and out[0].method.endswith("+rrf")
    with pytest.raises(EngineError, match="query 'b'"):
        fused.rerank_batch(items)
