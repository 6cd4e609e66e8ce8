"""Presets and engines for :class:`~reasonrank.spec.RerankerSpec` (which every entry point
builds a reranker from), and :func:`build_reranker`, the keyword form of a spec."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reasonrank.engines import create_engine
from reasonrank.engines.base import Engine
from reasonrank.engines.bundled_encoder import is_bundled_encoder
from reasonrank.engines.embedded_model import is_embedded_model
from reasonrank.engines.encoders import encoder_kind_of
from reasonrank.methods.base import Reranker
from reasonrank.presets import (
    DEFAULT_PRESET,
    DEFAULT_PRESETS,
    LLM_DEFAULT_PRESET,
    Preset,
    get_preset,
)
from reasonrank.spec import EngineLayer, RerankerSpec

# Engines whose attention the default method (ICR) can read; any other engine the user names
# gets the default of the generating methods, ReasonRank listwise, which runs everywhere.
_ATTENTION_ENGINES = ("embedded-hf", "transformers")
# `--model embedded-1.5b` with a generic engine name means that engine's embedded variant.
_EMBEDDED_VARIANT = {"transformers": "embedded-hf", "llamacpp": "embedded"}


def resolve_preset(method: str | None, preset: str | None, engine: str | Engine | None = None,
                   model: str | None = None) -> Preset:
    """The preset to use: the named one, the default preset of ``method``, or with neither the
    library's default (``DEFAULT_PRESET``, the dense cheap stage). A spec that names an engine
    or a model the default cannot use resolves as before the dense default: an encoder model
    (a bi-encoder or cross-encoder folder, an encoder engine) gets its method's default; any
    other model or engine gets the LLM default (``LLM_DEFAULT_PRESET``, ICR), or listwise where
    that engine cannot read attention (e.g. ``engine="openai"``: a served model exposes none)."""
    if preset is None:
        if method is None:
            default = get_preset(DEFAULT_PRESET)
            if _default_fits(default, engine, model):
                return default
            method = _encoder_method(engine, model)
        if method is None:
            llm = get_preset(LLM_DEFAULT_PRESET)
            if engine is None or _can_run_default(engine, llm):
                return llm
            method = "listwise"
        if method not in DEFAULT_PRESETS:
            raise ValueError(f"unknown method {method!r}; choose one of {sorted(DEFAULT_PRESETS)}")
        preset = DEFAULT_PRESETS[method]
    chosen = get_preset(preset)
    if method is not None and chosen.method != method:
        raise ValueError(f"preset {chosen.name!r} is for method {chosen.method!r}, not {method!r}")
    return chosen


def _default_fits(default: Preset, engine: str | Engine | None, model: str | None) -> bool:
    """Whether the default preset runs as it is with the spec's engine and model."""
    if isinstance(engine, Engine) or (engine is not None and engine != default.engine):
        return False
    return model is None or is_bundled_encoder(model)


def _encoder_method(engine: str | Engine | None, model: str | None) -> str | None:
    """``dense``/``cross`` when the spec names an encoder (engine object or model folder)."""
    if isinstance(engine, Engine):
        return engine.encoder_kind
    if engine not in (None, "sentence-transformers"):
        return None
    kind = encoder_kind_of(model)
    return kind or ("dense" if engine == "sentence-transformers" else None)


def _can_run_default(engine: str | Engine, default: Preset) -> bool:
    if isinstance(engine, Engine):
        return bool(engine.supports_attention) or default.method not in ("icr",)
    return engine == default.engine or engine in _ATTENTION_ENGINES or default.method != "icr"


def build_engine(
    preset: Preset,
    *,
    engine: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    engine_options: dict[str, Any] | None = None,
) -> Engine:
    """The engine of a preset, with the caller's engine name / model / URL / options on top."""
    name = engine or preset.engine
    chosen_model = model if model is not None else preset.model
    if is_embedded_model(chosen_model):
        name = _EMBEDDED_VARIANT.get(name, name)
    elif model is None and name in _EMBEDDED_VARIANT.values() and name != preset.engine:
        chosen_model = None  # another preset's hub model id means nothing to an embedded engine
    options: dict[str, Any] = dict(preset.engine_options) if name == preset.engine else {}
    options.update(engine_options or {})
    if chosen_model is not None:
        options["model"] = chosen_model
    if base_url is not None:
        options["base_url"] = base_url
    return create_engine(name, **options)


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
