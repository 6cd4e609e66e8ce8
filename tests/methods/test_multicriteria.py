"""REBEL multi-criteria reranking: combination rule, two-turn flow, parsing repairs, batching,
errors (scripted engine), and end to end on the tiny real model."""
from __future__ import annotations

import asyncio
import re

import pytest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.methods.multicriteria import RebelReranker, parse_criteria

META_MARK = "decide which secondary"


def _scores_engine(table: dict[str, str], meta: str = "", **kw) -> ScriptedEngine:
    """Answers a scoring prompt with ``table[passage text]`` and turn 1 with ``meta``."""

    def fn(request):
        text = request.messages[-1]["content"]
        if META_MARK in text:
            return meta
        passage = re.search(r"Passage:\n(.*?)\n\nScore the passage", text, re.DOTALL).group(1)
        return table[passage]

    return ScriptedEngine(fn, **kw)


DOCS = [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta"}, {"id": "c", "text": "gamma"}]


def test_combination_rule_hand_computed():
    # weights 0.6 relevance (0-10) + 0.4 authority (0-5), normalised by scale, weighted mean
    engine = _scores_engine({
        "alpha": "<think>a</think><answer>relevance: 6\nauthority: 5</answer>",  # .6*.6+.4*1 = 0.76
        "beta": "<think>b</think><answer>relevance: 9\nauthority: 1</answer>",   # .6*.9+.4*.2 = 0.62
        "gamma": "<think>c</think><answer>relevance: 10\nauthority: 3</answer>",  # .6*1+.4*.6 = 0.84
    })
    result = RebelReranker(engine, criteria={"relevance": 3, "authority": 2}).rerank("q", DOCS)
    assert result.ids == ["c", "a", "b"]
    assert [r.score for r in result.ranked] == pytest.approx([0.84, 0.76, 0.62])
    assert result.criteria_weights == pytest.approx({"relevance": 0.6, "authority": 0.4})
    assert result.ranked[0].criteria == {"relevance": 10.0, "authority": 3.0}
    assert result.ranked[0].reasoning == "c"
    assert result.warnings == []
    assert result.usage.engine_calls == 3 and len(result.traces) == 3
    assert result.to_dict()["results"][0]["criteria"] == {"relevance": 10.0, "authority": 3.0}


def test_default_criteria_are_the_fixed_set():
    engine = _scores_engine({"alpha": "relevance: 10\ndepth: 5\nrecency: 5\nauthority: 5\nclarity: 5"})
    result = RebelReranker(engine).rerank("q", DOCS[:1])
    assert set(result.criteria_weights) == {"relevance", "depth", "recency", "authority", "clarity"}
    assert sum(result.criteria_weights.values()) == pytest.approx(1.0)
    assert result.ranked[0].score == pytest.approx(1.0)
    prompt = engine.calls[0][1][0].messages[-1]["content"]
    assert "- relevance (0-10)" in prompt and "- clarity (0-5)" in prompt


def test_parsing_repairs_are_warnings_and_nothing_lost():
    engine = _scores_engine({
        "alpha": "<think>x</think><answer>relevance: 14\nauthority: -2\nstyle: 4</answer>",
        "beta": "<think>y</think><answer>relevance: high\n</answer>",
        "gamma": "no tags at all, sorry",
    })
    result = RebelReranker(engine, criteria="relevance=0.5,authority=0.5").rerank("q", DOCS)
    assert sorted(result.ids) == ["a", "b", "c"]
    a = next(r for r in result.ranked if r.id == "a")
    assert a.criteria == {"relevance": 10.0, "authority": 0.0}
    joined = "\n".join(result.warnings)
    assert "passage a: relevance: score 14 outside 0-10, clamped to 10" in joined
    assert "passage a: authority: score -2 outside 0-5, clamped to 0" in joined
    assert "passage a: ignored criteria not asked for: style" in joined
    assert "passage b: relevance: non-numeric score 'high', counted as 0" in joined
    assert "passage c: relevance: no score, counted as 0" in joined
    assert result.ids[0] == "a"


def test_two_turn_generates_criteria_once_per_query():
    meta = "<think>news</think><answer>\nrelevance: 60% - answers it\nrecency: 40% - new facts\n</answer>"
    table = {"alpha": "<answer>relevance: 5\nrecency: 5</answer>",
             "beta": "<answer>relevance: 10\nrecency: 0</answer>",
             "gamma": "<answer>relevance: 0\nrecency: 5</answer>"}
    engine = _scores_engine(table, meta=meta, max_batch_size=4, max_concurrency=1)
    reranker = RebelReranker(engine, two_turn=True)
    many = [{"id": f"d{i}", "text": ["alpha", "beta", "gamma"][i % 3]} for i in range(9)]
    results = reranker.rerank_batch([("q1", many), ("q2", DOCS)])
    sent = [r for _, batch in engine.calls for r in batch]
    metas = [r for r in sent if META_MARK in r.messages[-1]["content"]]
    assert len(metas) == 2 and len(sent) == 2 + 9 + 3
    assert results[0].criteria_weights == pytest.approx({"relevance": 0.6, "recency": 0.4})
    # 0.6*0.5+0.4*1 = 0.7 (alpha) > 0.6 (beta) > 0.4 (gamma)
    assert results[1].ids == ["a", "b", "c"]
    assert [r.score for r in results[1].ranked] == pytest.approx([0.7, 0.6, 0.4])
    # turn 2 continues turn 1's conversation (multi-turn dialogue)
    scoring = next(r for r in sent if META_MARK not in r.messages[-1]["content"])
    assert [m["role"] for m in scoring.messages][-3:] == ["user", "assistant", "user"]
    assert scoring.messages[-2]["content"] == meta
    assert "- recency (0-5): new facts" in scoring.messages[-1]["content"]
    assert results[0].traces[0].kind == "criteria" and results[0].usage.engine_calls == 10
    # batches respect max_batch_size and mix queries
    assert max(len(b) for _, b in engine.calls) == 4


def test_two_turn_without_relevance_or_criteria_falls_back():
    engine = _scores_engine({"alpha": "relevance: 5"}, meta="I cannot decide.")
    result = RebelReranker(engine, two_turn=True).rerank("q", DOCS[:1])
    assert "criteria: turn 1 gave no usable criteria; used the default criteria" in result.warnings
    assert "relevance" in result.criteria_weights
    engine = _scores_engine({"alpha": "recency: 5"}, meta="<answer>recency: 1 - fresh</answer>")
    result = RebelReranker(engine, two_turn=True).rerank("q", DOCS[:1])
    assert result.criteria_weights == pytest.approx({"relevance": 0.5, "recency": 0.5})


@pytest.mark.parametrize("bad", [{}, {"relevance": -1}, {"a": 0}, "relevance", "relevance=x", 5, [1, 2]])
def test_bad_criteria_are_clear_errors(bad):
    with pytest.raises(InvalidInputError):
        parse_criteria(bad)


def test_criteria_forms_and_exclusive_two_turn():
    assert parse_criteria(["Relevance", "Source Authority"]) == {"relevance": 1.0, "source_authority": 1.0}
    assert parse_criteria("relevance=0.5, depth=0.2") == {"relevance": 0.5, "depth": 0.2}
    with pytest.raises(InvalidInputError, match="exclude"):
        RebelReranker(ScriptedEngine(), criteria=["relevance"], two_turn=True)


def test_engine_error_raise_and_keep_order():
    def boom(request):
        raise RuntimeError("server down")

    with pytest.raises(EngineError, match="server down"):
        RebelReranker(ScriptedEngine(boom)).rerank("q", DOCS)
    result = RebelReranker(ScriptedEngine(boom), on_error="keep_order", two_turn=True).rerank("q", DOCS)
    assert result.ids == ["a", "b", "c"] and "engine error" in result.warnings[0]


def test_async_matches_sync():
    table = {"alpha": "relevance: 2", "beta": "relevance: 9", "gamma": "relevance: 5"}
    sync = RebelReranker(_scores_engine(table), criteria=["relevance"]).rerank("q", DOCS)
    # a server-like engine (one request per call, several in flight) gets concurrent requests
    engine = _scores_engine(table, max_batch_size=1, max_concurrency=2, delay_fn=lambda r: 0.02)
    res = asyncio.run(RebelReranker(engine, criteria=["relevance"]).arerank("q", DOCS))
    assert res.ids == sync.ids == ["b", "c", "a"]
    assert engine.max_in_flight_seen == 2 and all(kind == "agenerate" for kind, _ in engine.calls)


def test_dry_run_shows_scoring_or_meta_prompt():
    reranker = RebelReranker(ScriptedEngine())
    assert len(reranker.dry_run("q", DOCS)) == 3
    assert META_MARK in RebelReranker(ScriptedEngine(), two_turn=True).dry_run("q", DOCS)[0].messages[-1]["content"]


def test_tiny_model_end_to_end(tiny_engine):
    docs = [{"id": f"p{i}", "text": f"passage number {i} about rivers and lakes"} for i in range(5)]
    for two_turn in (False, True):
        reranker = RebelReranker(tiny_engine, two_turn=two_turn, reasoning_budget=8, max_passage_tokens=16)
        result = reranker.rerank("which river is longest?", docs)
        assert sorted(result.ids) == sorted(d["id"] for d in docs)
        assert all(r.criteria is not None and set(r.criteria) == set(result.criteria_weights) for r in result.ranked)
        assert all(0.0 <= r.score <= 1.0 for r in result.ranked)
        assert result.usage.engine_calls == 5 + int(two_turn)
        assert result.usage.completion_tokens > 0


def test_cli_json_carries_criteria(capsys, tmp_path):
    import json

    from reasonrank.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps({"id": f"t{i}", "text": f"passage {i}"}) for i in range(4)) + "\n")
    base = ["rerank", "--query", "q", "--docs", str(docs), "--json", "--engine", "scripted", "--method", "rebel"]
    assert main([*base, "--criteria", "relevance=0.7,recency=0.3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["criteria_weights"] == pytest.approx({"relevance": 0.7, "recency": 0.3})
    assert [r["criteria"] for r in doc["results"]] == [{"relevance": 0.0, "recency": 0.0}] * 4
    assert [r["id"] for r in doc["results"]] == ["t0", "t1", "t2", "t3"]  # all zero: ties keep order
    assert main([*base, "--two-turn"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["usage"]["engine_calls"] == 5 and "relevance" in doc["criteria_weights"]


@pytest.mark.parametrize("answer,expected", [
    ("relevance: 0.6 - direct\nrecency: 0.4 - new", {"relevance": 0.6, "recency": 0.4}),
    ("1. **Relevance** (weight: 0.5): direct\n2. **Recency** (weight: 0.5): new", {"relevance": 0.5, "recency": 0.5}),
    ("- Relevance: weight 0.7\n- Authority: 30% - trusted", {"relevance": 0.7, "authority": 0.3}),
])
def test_meta_formats(answer, expected):
    engine = _scores_engine({"alpha": "relevance: 1"}, meta=f"<think>t</think><answer>\n{answer}\n</answer>")
    result = RebelReranker(engine, two_turn=True).rerank("q", DOCS[:1])
    assert result.criteria_weights == pytest.approx(expected)
