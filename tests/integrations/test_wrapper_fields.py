"""The LlamaIndex, Haystack and LangChain wrappers declare the reranker options as fields of
their own (each framework serializes and validates its fields its way); this checks those
fields against the one declaration, :class:`reasonrank.RerankerSpec`: the same names, defaults
and choices, so a spec field added or changed without the wrappers fails here."""
from __future__ import annotations

import inspect
import types
import typing
from dataclasses import MISSING, fields
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from reasonrank.spec import RerankerSpec

# A progress bar has no place inside a framework's pipeline.
NOT_IN_WRAPPERS = {"show_progress"}


def _choices(hint: Any) -> frozenset[Any] | None:
    members = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    values = [v for m in members if get_origin(m) is Literal for v in get_args(m)]
    return frozenset(values) if values else None


def _normal(default: Any) -> Any:
    """An empty mapping default and None mean the same to :meth:`RerankerSpec.from_object`."""
    return None if default == {} else default


def spec_declaration() -> dict[str, tuple[Any, frozenset[Any] | None]]:
    hints = typing.get_type_hints(RerankerSpec)
    out = {}
    for f in fields(RerankerSpec):
        if f.name in NOT_IN_WRAPPERS:
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        out[f.name] = (_normal(default), _choices(hints[f.name]))
    return out


def _pydantic_fields(model: Any) -> dict[str, tuple[Any, frozenset[Any] | None]]:
    out = {}
    for name, info in model.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default
        out[name] = (_normal(default), _choices(info.annotation))
    return out


def _wrapper_fields(framework: str) -> dict[str, tuple[Any, frozenset[Any] | None]]:
    if framework == "llama_index":
        pytest.importorskip("llama_index.core")
        from llama_index_reasonrank import ReasonRankRerank

        return _pydantic_fields(ReasonRankRerank)
    if framework == "langchain":
        pytest.importorskip("langchain_core")
        from langchain_reasonrank import ReasonRankCompressor

        return _pydantic_fields(ReasonRankCompressor)
    pytest.importorskip("haystack")
    from haystack_reasonrank import ReasonRankRanker

    hints = typing.get_type_hints(ReasonRankRanker.__init__)
    params = inspect.signature(ReasonRankRanker.__init__).parameters.values()
    return {p.name: (_normal(p.default), _choices(hints.get(p.name))) for p in params if p.name != "self"}


@pytest.mark.parametrize("framework", ["llama_index", "langchain", "haystack"])
def test_wrapper_fields_are_the_spec_fields_with_the_same_defaults_and_choices(framework: str) -> None:
    declared = spec_declaration()
    fields_of = _wrapper_fields(framework)
    assert set(declared) <= set(fields_of), sorted(set(declared) - set(fields_of))
    assert {name: fields_of[name] for name in declared} == declared
    # Its own fields (top_n, metadata switches, api_key) are not spec fields of another meaning.
    assert not (set(fields_of) - set(declared)) & NOT_IN_WRAPPERS


def test_the_comparison_sees_a_difference() -> None:
    # The check reads Literal choices and normalises empty-mapping defaults, nothing more.
    assert _choices(Literal["a", "b"] | None) == frozenset({"a", "b"})
    assert _choices(str | None) is None
    assert _normal({}) is None and _normal(True) is True
