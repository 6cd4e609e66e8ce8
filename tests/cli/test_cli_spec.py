"""The CLI's reranker options are generated from RerankerSpec and turned back into one; the
rerank depth is --depth in every subcommand, --top-k its deprecated alias."""
from __future__ import annotations

import argparse
from dataclasses import fields

import pytest
from reasonrank.cli import build_parser, main
from reasonrank.cli.common import add_reranker_arguments, cli_fields, flag_of, spec_from_args
from reasonrank.spec import RerankerSpec

# Spec fields a subcommand adds itself (their meaning depends on it): --depth, and --no-progress.
PER_SUBCOMMAND = {"depth", "show_progress"}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    return parser.parse_args(argv)


def test_every_spec_field_is_an_option_or_added_by_each_subcommand():
    generated = {f.name for f in cli_fields()}
    assert generated | PER_SUBCOMMAND == {f.name for f in fields(RerankerSpec)}
    help_text = build_parser()._subparsers._group_actions[0].choices["rerank"].format_help()
    for name in generated - {"on_parse_error"}:
        assert flag_of(name) in help_text
    assert "--on-parse-error" in help_text and "--strict" in help_text and "--depth" in help_text


def test_options_become_a_spec():
    args = parse("--method", "listwise", "--engine", "scripted", "--model", "m", "--on-error", "keep_order",
                 "--strict", "--engine-options", '{"n_ctx": 512}', "--method-options", '{"window_size": 10}',
                 "--fusion", "rrf", "--fusion-weight", "0.3")
    spec = spec_from_args(args, depth=7, criteria={"relevance": 1.0})
    assert spec == RerankerSpec(method="listwise", engine="scripted", model="m", on_error="keep_order",
                                on_parse_error="raise", engine_options={"n_ctx": 512}, depth=7, fusion="rrf",
                                fusion_weight=0.3,
                                method_options={"window_size": 10, "criteria": {"relevance": 1.0}})
    assert spec_from_args(parse()) == RerankerSpec()
    with pytest.raises(ValueError, match="--engine-options is not valid JSON"):
        spec_from_args(parse("--engine-options", "{"))


def test_spec_validation_and_round_trip():
    spec = RerankerSpec(preset="embedded-listwise", depth=5, method_options={"window_size": 4})
    assert RerankerSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict() == {"preset": "embedded-listwise", "depth": 5, "method_options": {"window_size": 4}}
    for bad, needle in [({"method": "nope"}, "unknown method"), ({"depth": 0}, "depth must be a positive"),
                        ({"on_error": "skip"}, "on_error must be 'raise' or 'keep_order'"),
                        ({"engine": "nope"}, "unknown engine"), ({"fusion": "max"}, "fusion must be")]:
        with pytest.raises(ValueError, match=needle):
            RerankerSpec(**bad)
    with pytest.raises(ValueError, match="unknown reranker spec fields"):
        RerankerSpec.from_dict({"top_k": 3})


def test_shared_options_reach_the_method_and_override_the_preset():
    from reasonrank.engines.scripted import ScriptedEngine

    reranker = RerankerSpec(method="listwise", engine=ScriptedEngine(), depth=3, on_error="keep_order",
                            on_parse_error="raise", method_options={"reasoning_budget": 16}).build()
    assert (reranker.depth, reranker.on_error, reranker.on_parse_error) == (3, "keep_order", "raise")
    assert RerankerSpec(method="listwise", engine=ScriptedEngine()).build().depth == 20  # the preset's


@pytest.mark.parametrize("command", ["rerank", "eval", "bench", "rerank-dataset", "serve"])
def test_depth_everywhere_with_top_k_as_a_deprecated_alias(command, capsys):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    assert "--depth" in sub.format_help()
    required = {"rerank": ["--query", "q", "--docs", "d"], "eval": ["ds", "-o", "o"], "bench": ["ds", "-o", "o"],
                "rerank-dataset": ["in", "-o", "o"], "serve": []}[command]
    args = sub.parse_args([*required, "--top-k", "4"])
    assert args.depth == 4
    assert "--top-k is deprecated; use --depth" in capsys.readouterr().err
    assert sub.parse_args([*required, "--depth", "4"]).depth == 4
    assert "deprecated" not in capsys.readouterr().err


def test_eval_depth_keeps_its_default(capsys, tmp_path):
    sub = build_parser()._subparsers._group_actions[0].choices["eval"]
    from reasonrank.cli.eval import depth_override, rerank_depth

    args = sub.parse_args(["ds", "-o", "o"])
    assert (rerank_depth(args), depth_override(args)) == (100, {})  # the preset's depth is kept
    args = sub.parse_args(["ds", "-o", "o", "--depth", "30"])
    assert (rerank_depth(args), depth_override(args)) == (30, {"depth": 30})
    assert main(["eval", str(tmp_path / "none"), "-o", str(tmp_path / "o"), "--depth", "0"]) == 2
    assert "--depth must be a positive integer, got 0" in capsys.readouterr().err
