"""The keyword form of a :class:`~reasonrank.spec.RerankerSpec` (:func:`build_reranker`), and
the preset/engine resolution re-exported from :mod:`reasonrank.resolution`, its one home."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reasonrank.engines.base import Engine
from reasonrank.methods.base import Reranker
from reasonrank.presets import Preset
from reasonrank.resolution import resolve_engine, resolve_preset
from reasonrank.spec import EngineLayer, RerankerSpec


def build_engine(
    preset: Preset,
    *,
    engine: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    engine_options: dict[str, Any] | None = None,
) -> Engine:
    """The engine of a preset, with the caller's engine name / model / URL / options on top
    (resolved by :func:`reasonrank.resolution.resolve_engine`; no layers, no cache)."""
    return resolve_engine(preset, engine=engine, model=model, base_url=base_url,
                          engine_options=engine_options).create()


def build_reranker(
    method: str | None = None,
    preset: str | None = None,
    *,
    engine: str | Engine | None = None,
    model: str | None = None,
    base_url: str | None = None,
    engine_options: dict[str, Any] | None = None,
    layers: Sequence[EngineLayer] = (),
    **method_options: Any,
) -> Reranker:
    """A ready reranker: preset settings, then the caller's overrides (the Python API over
    :class:`~reasonrank.spec.RerankerSpec`; any other keyword is a method setting).

    ``engine`` may be an engine name or an already built :class:`Engine` (shared between
    rerankers, e.g. one vLLM model for two methods); ``layers`` wrap the engine before the
    method is built (see :meth:`RerankerSpec.build`).
    """
    spec = RerankerSpec.from_options(method, preset, engine=engine, model=model, base_url=base_url,
                                     engine_options=engine_options, **method_options)
    return spec.build(layers=layers)


__all__ = ["build_engine", "build_reranker", "resolve_preset"]
