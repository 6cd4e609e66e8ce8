"""One options declaration per method and per listwise strategy (``reasonrank.options``): the
constructors, the shared TypedDicts, the presets, the spec's checks, the CLI flags and the docs
table all agree with it, and a strategy defined here, in a test module, reaches the CLI's help,
the spec and the reranker without an edit to the listwise class or the CLI."""
from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest
from reasonrank.cli import main
from reasonrank.cli.common import add_reranker_arguments, spec_from_args
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.methods import METHODS, method_class
from reasonrank.methods.base import Reranker
from reasonrank.methods.generating import (
    CommonOptions,
    GeneratingReranker,
    GenerationOptions,
    RerankerOptions,
)
from reasonrank.methods.generating import SamplingOptions as SamplingKeywords
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.listwise_strategies import STRATEGIES, Strategy, WindowLog
from reasonrank.options import (
    OptionInfo,
    SamplingOptions,
    SharedOptions,
    check_method_options,
    describe,
    markdown_table,
    method_options,
    option,
)
from reasonrank.presets import get_preset, list_presets
from reasonrank.spec import RerankerSpec
from reasonrank.testing.oracle import oracle_answer, oracle_candidates
from reasonrank.types import Candidate, Query, RerankResult

ROOT = Path(__file__).resolve().parents[1]
IDS = [f"d{i}" for i in range(12)]
GRADES = {d: 12 - i for i, d in enumerate(IDS)}  # the input order is the true order


def _keywords(function: Any) -> dict[str, Any]:
    """A constructor's keyword-only parameters and their defaults (``**options`` left out)."""
    return {p.name: p.default for p in inspect.signature(function).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


# -- the declarations agree with the constructors and the TypedDicts ---------------------------
@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_constructor_takes_exactly_its_declared_options(method: str) -> None:
    cls = method_class(method)
    own = getattr(cls, "Options", None)
    declared = {i.name: i.default for i in describe(own, method)} if own is not None else {}
    assert _keywords(cls.__init__) == declared


def test_shared_declarations_match_the_base_constructors_and_typeddicts() -> None:
    shared = {i.name: i for i in describe(SharedOptions, "every method")}
    sampling = {i.name: i for i in describe(SamplingOptions, "generating methods")}
    assert _keywords(Reranker.__init__) == {n: i.default for n, i in shared.items()}
    generating = _keywords(GeneratingReranker.__init__)
    assert {n: generating[n] for n in sampling} == {n: i.default for n, i in sampling.items()}
    # The TypedDicts (what mypy checks a method's **options against) name the same options,
    # with the same types.
    hints = typing.get_type_hints
    assert hints(RerankerOptions) == {n: i.hint for n, i in shared.items()}
    assert set(hints(CommonOptions)) == set(shared) - {"depth"}
    assert hints(GenerationOptions) == {**{n: i.hint for n, i in shared.items()},
                                        **{n: i.hint for n, i in sampling.items()}}
    assert hints(SamplingKeywords) == {n: h for n, h in hints(GenerationOptions).items() if n != "depth"}


def test_the_docs_table_is_the_generated_one() -> None:
    page = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    begin = page.index("<!-- options-table")
    table = page[page.index("\n", begin) + 1 : page.index("<!-- /options-table -->")].strip()
    assert table == markdown_table(), "regenerate the table with reasonrank.options.markdown_table()"


# -- presets and specs are checked against the declarations ------------------------------------
def test_every_bundled_preset_fits_its_method() -> None:
    for name in list_presets():
        get_preset(name)  # checks at load


@pytest.mark.parametrize(("options", "message"), [
    ({"window_sise": 10}, "unknown listwise options ['window_sise']"),
    ({"window_size": "20"}, "listwise option window_size must be int, got '20'"),
    ({"strategy": "tournament"}, "must be one of ['partition', 'sliding']"),
    ({"partition_fill": "best"}, "partition_fill must be 'interleave' or 'list', got 'best'"),
])
def test_a_preset_with_a_bad_option_fails_at_load_naming_it(tmp_path: Path, options: dict, message: str) -> None:
    values = ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in options.items())
    path = tmp_path / "mine.toml"
    path.write_text(f'method = "listwise"\nengine = "scripted"\nmethod_options = {{ {values} }}\n')
    with pytest.raises(InvalidInputError, match="preset 'mine'") as caught:
        get_preset(str(path))
    assert message in str(caught.value)


def test_a_spec_checks_method_options_before_any_engine_call() -> None:
    engine = ScriptedEngine(lambda r: "<answer>[1]</answer>")
    with pytest.raises(InvalidInputError, match=r"unknown pointwise options \['window_size'\]"):
        RerankerSpec(method="pointwise", engine=engine, method_options={"window_size": 10}).build()
    with pytest.raises(InvalidInputError, match="icr option scoring must be"):
        RerankerSpec(method="icr", engine=engine, method_options={"scoring": "attention"}).build()
    assert engine.calls == []
    # Shared and fusion options are every method's; a TOML list fits a Sequence option.
    check_method_options("icr", {"layers": [0, -1], "on_error": "keep_order", "fusion": "rrf"})


# -- a strategy declared here, in a test module --------------------------------------------------
@dataclass(frozen=True)
class HeadOptions:
    """The options of the test strategy ``head``."""

    head_size: int = option(4, "passages ranked in the one window (a test strategy)", metavar="N")
    head_order: Literal["model", "reversed"] = option("model", "how the head is put (a test strategy)")

    def check(self, ranker: Any) -> None:
        if self.head_size > ranker.window_size:
            raise InvalidInputError(f"head_size ({self.head_size}) must fit window_size ({ranker.window_size})")


def head_job(ranker: ListwiseReranker, query: Query, candidates: list[Candidate]) -> Generator[Any, Any, RerankResult]:
    """Rank the first ``head_size`` candidates in one window; the rest keep their order."""
    settings: HeadOptions = ranker.strategy_options
    log = WindowLog()
    size = min(settings.head_size, len(candidates))
    outcome = yield from ranker.window_job(query, candidates[:size], "head")
    order = log.add(outcome)
    if settings.head_order == "reversed":
        order = order[::-1]
    return log.result(ranker, query, candidates, order + list(range(size, len(candidates))))


HEAD = Strategy(job=head_job, first_window=lambda r, n: (0, min(n, r.strategy_options.head_size)),
                windows=lambda r, n: 1, options=HeadOptions)


@pytest.fixture
def head_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STRATEGIES, "head", f"{__name__}:HEAD")


@pytest.mark.usefixtures("head_strategy")
def test_a_new_strategy_and_its_options_appear_in_the_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["rerank", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--head-size N listwise --strategy head: passages ranked in the one window" in text
    assert "--head-order {model,reversed}" in text
    assert "--strategy {head,partition,sliding}" in text
    assert "head_size" in method_options("listwise")


@pytest.mark.usefixtures("head_strategy")
def test_a_new_strategy_is_accepted_by_the_spec_and_reaches_the_reranker() -> None:
    engine = ScriptedEngine(oracle_answer(GRADES), max_concurrency=1)
    spec = RerankerSpec(method="listwise", engine=engine, method_options={
        "strategy": "head", "head_size": 5, "head_order": "reversed", "max_passage_tokens": 8})
    reranker = spec.build()
    assert isinstance(reranker, ListwiseReranker) and reranker.strategy_options == HeadOptions(5, "reversed")
    result = reranker.rerank("q", oracle_candidates(IDS))
    assert [r.candidate.id for r in result.ranked] == IDS[:5][::-1] + IDS[5:]  # one window of 5, reversed
    assert [len(window) for _, window in engine.calls] == [1]
    # Its declaration checks the values and their fit with the ranker's own settings.
    with pytest.raises(InvalidInputError, match="head_order must be 'model' or 'reversed'"):
        RerankerSpec(method="listwise", engine=engine, method_options={"strategy": "head", "head_order": "up"}).build()
    with pytest.raises(InvalidInputError, match="head_size .30. must fit window_size"):
        ListwiseReranker(engine, strategy="head", head_size=30)


@pytest.mark.usefixtures("head_strategy")
def test_a_new_strategy_from_cli_flags_reaches_the_reranker() -> None:
    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    args = parser.parse_args(["--method", "listwise", "--strategy", "head", "--head-size", "3",
                              "--max-passage-tokens", "8"])
    spec = spec_from_args(args)
    assert spec.method_options == {"strategy": "head", "head_size": 3, "max_passage_tokens": 8}
    engine = ScriptedEngine(oracle_answer(GRADES), max_concurrency=1)
    reranker = replace(spec, engine=engine).build()
    assert isinstance(reranker, ListwiseReranker) and reranker.strategy_options == HeadOptions(3, "model")
    assert [r.candidate.id for r in reranker.rerank("q", oracle_candidates(IDS)).ranked] == IDS


def test_another_strategys_options_are_ignored_and_a_flag_must_fit_the_method() -> None:
    # A preset's pivot does not stop strategy="sliding" from overriding its strategy.
    engine = ScriptedEngine(oracle_answer(GRADES), max_concurrency=1)
    sliding = ListwiseReranker(engine, strategy="sliding", pivot=5, partition_fill="list")
    assert sliding.strategy_options is None and not hasattr(sliding, "pivot")
    built = RerankerSpec(preset="reasonrank-7b-partition", engine=engine,
                         method_options={"strategy": "sliding"}).build()
    assert isinstance(built, ListwiseReranker) and built.strategy == "sliding"
    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    with pytest.raises(InvalidInputError, match="--set-size applies to --method setwise only"):
        spec_from_args(parser.parse_args(["--method", "listwise", "--set-size", "4"]))
    assert spec_from_args(parser.parse_args(["--method", "pointwise", "--no-check-template"])).method_options == {
        "check_template": False}


def test_deprecated_spellings_still_work_beside_the_generated_flags(capsys: pytest.CaptureFixture[str]) -> None:
    # --top-k stays the deprecated spelling of --depth: setwise's top_k method setting gets no
    # flag of its own (it stays in --method-options), so the two never meet.
    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    parser.add_argument("--depth", type=int, default=None)
    from reasonrank.cli.common import add_deprecated_alias

    add_deprecated_alias(parser, "--top-k", "--depth", "depth", type=int)
    args = parser.parse_args(["--method", "setwise", "--top-k", "7", "--set-size", "4"])
    assert args.depth == 7 and "--top-k is deprecated; use --depth" in capsys.readouterr().err
    assert spec_from_args(args, depth=args.depth).method_options == {"set_size": 4}
    assert "top_k" in method_options("setwise") and not method_options("setwise")["top_k"].cli


def test_the_spec_fields_lifted_out_of_method_options_are_the_shared_declarations() -> None:
    from reasonrank.spec import SHARED_METHOD_OPTIONS

    shared = {i.name: i for i in describe(SharedOptions, "every method")}
    spec_hints = typing.get_type_hints(RerankerSpec)
    for name in SHARED_METHOD_OPTIONS:
        assert name in shared, name
        # The same choices (the spec's None means "the method's default")
        spec_choices = OptionInfo(name, spec_hints[name], None, "", "spec").choices
        assert set(spec_choices or ()) == set(shared[name].choices or ()), name


@pytest.mark.usefixtures("head_strategy")
def test_strategy_options_live_on_strategy_options_and_the_old_attributes_still_read() -> None:
    # A strategy's options are not attributes of the ranker (the memo's key lists the ranker's
    # attributes, and a new strategy must not edit the listwise class to be listed there).
    engine = ScriptedEngine(oracle_answer(GRADES), max_concurrency=1)
    head = ListwiseReranker(engine, strategy="head", head_size=3)
    assert "head_size" not in vars(head) and head.strategy_options.head_size == 3
    partition = ListwiseReranker(engine, strategy="partition", pivot=5)
    assert "pivot" not in vars(partition)
    # ranker.pivot (an attribute before the strategies declared their options): deprecated alias.
    with pytest.warns(DeprecationWarning, match=r"ListwiseReranker.pivot is deprecated; use "
                      r"ListwiseReranker.strategy_options.pivot"):
        assert partition.pivot == 5
    with pytest.raises(AttributeError):
        partition.no_such_setting  # noqa: B018 - the attribute access is the test
