"""A cascade from a :class:`~reasonrank.spec.RerankerSpec`: the spec's multi-stage form.

``method = "cascade"`` with ``method_options = {"stages": [...], "depths": [...], "adaptive":
false, "agree_top": 3, "margin": null}``; each stage is a spec as a dict (``{"preset":
"embedded-listwise"}``, ``{"method": "relevance", "method_options": {...}}``). A stage inherits
the cascade spec's engine, model, URL, engine options, error policies and cache unless it sets
its own; stages whose engines resolve to the same backend, model, URL and options share one
engine (one model in memory), built once with the spec's layers and cache. So cascades work from
presets (``embedded-cascade``, ``reasonrank-7b-cascade``), the CLI (``--method cascade
--method-options '{...}'``), the wrappers, ``serve`` and Ray alike.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reasonrank.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from reasonrank.engines.base import Engine
    from reasonrank.methods.cascade import CascadeReranker
    from reasonrank.scheduling.layers import EngineLayer
    from reasonrank.spec import RerankerSpec

# What a stage inherits from the cascade spec when it does not set it.
INHERITED = ("engine", "model", "base_url", "engine_options", "on_error", "on_parse_error", "cache",
             "cache_namespace")
CASCADE_KEYS = ("stages", "depths", "adaptive", "agree_top", "margin")


def stage_specs(spec: RerankerSpec, options: Mapping[str, Any]) -> list[RerankerSpec]:
    """Each stage's spec (inheriting from ``spec``), checked now: an unknown stage method or
    preset is one clear error before any engine is built."""
    unknown = sorted(set(options) - set(CASCADE_KEYS))
    if unknown:
        raise InvalidInputError(f"unknown cascade options {unknown}; known: {list(CASCADE_KEYS)}")
    stages = options.get("stages")
    if not isinstance(stages, Sequence) or isinstance(stages, (str, bytes)) or len(stages) < 1:
        raise InvalidInputError("a cascade needs 'stages': a list of stage specs (dicts)")
    out = []
    for n, stage in enumerate(stages, start=1):
        if not isinstance(stage, Mapping):
            raise InvalidInputError(f"cascade stage {n} must be a spec dict, got {stage!r}")
        if stage.get("method") == "cascade":
            raise InvalidInputError(f"cascade stage {n} is itself a cascade: list its stages instead")
        values = {k: getattr(spec, k) for k in INHERITED if k not in stage}
        try:
            built = type(spec).from_dict({**values, **stage})  # the spec's class: no import cycle
            built.engine_description()  # the one resolution: an unknown preset fails here
        except (InvalidInputError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"cascade stage {n}: {exc}") from None
        out.append(built)
    return out


def _engine_key(stage: RerankerSpec) -> Hashable:
    """Stages with equal keys get one engine: the key of the engine description the stage
    builds from (:func:`reasonrank.resolution.describe_engine`, the resolution building uses)."""
    return stage.engine_description().key


def build_cascade(spec: RerankerSpec, options: Mapping[str, Any], layers: Sequence[EngineLayer]) -> CascadeReranker:
    """The cascade ``spec`` describes (see the module docstring)."""
    from reasonrank.methods.cascade import CascadeReranker, check_depths

    stages = stage_specs(spec, options)
    depths = check_depths(options.get("depths") or [], len(stages))
    engines: dict[Hashable, Engine] = {}
    built = []
    for stage, depth in zip(stages, depths, strict=True):
        key = _engine_key(stage)
        if key not in engines:
            engines[key] = stage.build_engine(layers=layers)  # layers and cache, once per engine
        # the shared engine is already layered and cached: the stage adds neither again
        built.append(replace(stage, engine=engines[key], cache=False, depth=depth).build())
    return CascadeReranker(built, depths, adaptive=bool(options.get("adaptive", False)),
                           agree_top=int(options.get("agree_top", 3)), margin=options.get("margin"))


__all__ = ["CASCADE_KEYS", "INHERITED", "build_cascade", "stage_specs"]
