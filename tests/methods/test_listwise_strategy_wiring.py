"""The listwise ``strategy`` reaches the method from every entry point that builds from a
RerankerSpec: Python options, the CLI flags, a preset, and a framework wrapper."""
from __future__ import annotations

import argparse

import pytest
from reasonrank.cli.common import add_reranker_arguments, spec_from_args
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.spec import RerankerSpec
from reasonrank.testing.oracle import oracle_answer, oracle_candidates

IDS = [f"d{i}" for i in range(45)]
GRADES = {d: 45 - i for i, d in enumerate(IDS)}


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    return parser.parse_args(argv)


def test_cli_flags_land_in_method_options() -> None:
    args = _parse("--method", "listwise", "--strategy", "partition", "--pivot", "5", "--partition-budget", "12",
                  "--method-options", '{"window_size": 10, "strategy": "sliding"}')
    spec = spec_from_args(args)
    assert spec.method_options == {"window_size": 10, "strategy": "partition", "pivot": 5, "partition_budget": 12}
    assert spec_from_args(_parse("--method", "listwise")).method_options == {}
    with pytest.raises(SystemExit):
        _parse("--strategy", "tournament")


def test_spec_and_preset_build_a_partition_reranker() -> None:
    engine = ScriptedEngine(oracle_answer(GRADES), max_concurrency=1)
    built = RerankerSpec(method="listwise", engine=engine, depth=45, method_options={
        "strategy": "partition", "window_size": 20, "max_passage_tokens": 8}).build()
    assert isinstance(built, ListwiseReranker) and built.strategy == "partition"
    result = built.rerank("q", oracle_candidates(IDS))
    assert [r.candidate.id for r in result.ranked][:10] == IDS[:10]
    assert [len(reqs) for _, reqs in engine.calls][:2] == [1, 2]  # 25 after the first window: 2 at once
    preset = RerankerSpec(preset="reasonrank-7b-partition", engine=engine).build()
    settings = preset.strategy_options
    assert (preset.strategy, settings.pivot, settings.partition_budget, preset.window_size) == ("partition", 10, 20, 20)


def test_llama_index_wrapper_passes_the_strategy_through() -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_reasonrank import ReasonRankRerank

    engine = ScriptedEngine(oracle_answer(GRADES), max_concurrency=1)
    wrapper = ReasonRankRerank(method="listwise", depth=45, top_n=10, method_options={
        "strategy": "partition", "window_size": 20, "max_passage_tokens": 8})
    assert wrapper.spec().method_options["strategy"] == "partition"
    reranker = RerankerSpec.from_object(wrapper, engine=engine).build()
    assert reranker.strategy == "partition"
    nodes = [NodeWithScore(node=TextNode(text=f"doc:{d}", id_=d), score=0.0) for d in IDS]
    out = ReasonRankRerank(reranker=reranker, top_n=10).postprocess_nodes(nodes, query_str="q")
    assert [n.node.node_id for n in out] == IDS[:10]
