"""Cascades: every candidate exactly once whatever the depths, the tail keeps the earlier
order, adaptive skipping is visible per query, the spec's multi-stage form, bad options."""
from __future__ import annotations

import math
import re

import pytest
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.methods.cascade import CascadeReranker
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.relevance import RelevanceReranker
from reasonrank.spec import RerankerSpec

pytestmark = pytest.mark.cost

DOCS = [{"id": f"d{i}", "text": f"passage value{(i * 7) % 13}"} for i in range(13)]


def _value(request: ChatRequest) -> int:
    return int(re.findall(r"value(\d+)", request.messages[-1]["content"])[-1])


def cheap_logprobs(request: ChatRequest, choices) -> dict[str, float]:
    p = (_value(request) + 1) / 14  # higher value, more relevant
    return {c: math.log(p if i == 0 else 1 - p) for i, c in enumerate(choices)}


def listwise_reverse(request: ChatRequest) -> str:
    n = len(re.findall(r"^\[\d+\]", request.messages[-1]["content"], re.MULTILINE))
    return "<think>ok</think><answer>" + " > ".join(f"[{i}]" for i in range(n, 0, -1)) + "</answer>"


def make(depths, **kw) -> tuple[CascadeReranker, ScriptedEngine]:
    engine = ScriptedEngine(listwise_reverse, cheap_logprobs)
    stages = [RelevanceReranker(engine, prompt="rank1"), ListwiseReranker(engine, window_size=20, depth=None)]
    return CascadeReranker(stages, depths, **kw), engine


@pytest.mark.parametrize("depths", [[1, 1], [13, 13], [50, 40], [13, 5], [8, 3]])
def test_every_candidate_once(depths):
    cascade, _ = make(depths)
    result = cascade.rerank("q", DOCS)
    assert sorted(result.ids) == sorted(d["id"] for d in DOCS) and len(result.ids) == len(DOCS)
    assert result.stages == ["relevance", "listwise"]
    assert [r.rank for r in result.ranked] == list(range(len(DOCS)))


def test_tail_keeps_the_earlier_order():
    cascade, _ = make([8, 3])
    result = cascade.rerank("q", DOCS)
    cheap = RelevanceReranker(ScriptedEngine(listwise_reverse, cheap_logprobs), prompt="rank1").rerank("q", DOCS[:8])
    # the listwise stage reversed the cheap stage's top 3; ranks 4-8 are the cheap stage's order
    assert result.ids[:3] == list(reversed(cheap.ids[:3]))
    assert result.ids[3:8] == cheap.ids[3:8]
    assert result.ids[8:] == [d["id"] for d in DOCS[8:]]  # below the first depth: input order


def test_adaptive_skips_when_the_cheap_stage_agrees_with_the_first_stage():
    ordered = sorted(DOCS, key=lambda d: -int(d["text"].split("value")[1]))  # first stage already right
    cascade, engine = make([13, 5], adaptive=True, agree_top=3)
    sure = cascade.rerank("q", ordered)
    assert sure.stages == ["relevance"] and not any(k == "generate" for k, _ in engine.calls)
    unsure = cascade.rerank("q", DOCS)
    assert unsure.stages == ["relevance", "listwise"]
    assert unsure.to_dict()["stages"] == ["relevance", "listwise"]


def test_adaptive_margin_rule():
    cascade, _ = make([13, 5], adaptive=True, agree_top=13, margin=0.05)
    result = cascade.rerank("q", DOCS)  # value 12 vs 11: gap 1/12 of the range >= 0.05
    assert result.stages == ["relevance"]


def test_bad_cascade_options():
    with pytest.raises(InvalidInputError, match="grow"):
        make([20, 100])
    with pytest.raises(InvalidInputError, match="one depth per stage"):
        make([20])
    with pytest.raises(InvalidInputError, match="positive"):
        make([0, 0])
    with pytest.raises(InvalidInputError, match="stage 2"):
        RerankerSpec(method="cascade", method_options={"stages": [{"method": "relevance"}, {"method": "nope"}],
                                                       "depths": [10, 5]}).build()
    with pytest.raises(InvalidInputError, match="grow"):
        RerankerSpec(method="cascade", engine=ScriptedEngine(),
                     method_options={"stages": [{"method": "relevance"}, {"method": "listwise"}],
                                     "depths": [5, 10]}).build()


def test_spec_multi_stage_form_shares_one_engine_and_cache():
    engine = ScriptedEngine(listwise_reverse, cheap_logprobs)
    spec = RerankerSpec(preset="embedded-cascade", engine=engine,
                        method_options={"depths": [13, 4], "adaptive": False})
    cascade = spec.build()
    assert isinstance(cascade, CascadeReranker)
    assert cascade.stages[0].engine is cascade.stages[1].engine  # one engine, cached once
    result = cascade.rerank("q", DOCS)
    assert sorted(result.ids) == sorted(d["id"] for d in DOCS) and result.stages == ["relevance", "listwise"]
    again = cascade.rerank("q", DOCS)
    assert again.ids == result.ids and again.usage.cache_misses == 0 and again.usage.cache_hits > 0


def test_cli_builds_a_cascade():
    import argparse

    from reasonrank.cli.common import add_reranker_arguments, spec_from_args

    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    args = parser.parse_args(["--preset", "embedded-cascade", "--method-options", '{"adaptive": true}'])
    spec = spec_from_args(args)
    assert spec.resolved_preset().method == "cascade" and spec.method_options == {"adaptive": True}


@pytest.mark.parametrize("preset", ["embedded-cascade", "reasonrank-7b-cascade"])
def test_cascade_presets_share_one_engine_between_stages(preset):
    from reasonrank.methods.cascade_spec import _engine_key, stage_specs

    spec = RerankerSpec(preset=preset)
    stages = stage_specs(spec, spec.resolved_preset().method_options)  # no engine is built
    assert len(stages) == 2 and len({_engine_key(s) for s in stages}) == 1
