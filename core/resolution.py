"""One resolution: a :class:`~reasonrank.spec.RerankerSpec` to the preset it builds on and the
engine it runs on.

:func:`describe_engine` turns a spec into an :class:`EngineDescription` — the engine's name
after aliasing (``transformers`` on an embedded model is ``embedded-hf``), its model, its
options (the preset's under the caller's, credentials held as :class:`~reasonrank.secret.Secret`)
and its cache settings — with a stable, hashable :attr:`EngineDescription.key`. Building
(``RerankerSpec.build_engine``, :func:`reasonrank.factory.build_engine`), a cascade's engine
sharing (stages with equal keys get one engine) and a spec's checks all go through it, so what
is built and what is shared cannot disagree.

This module imports neither the spec, the factory nor the cascade: they import it.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reasonrank.engines import create_engine
from reasonrank.engines.base import Engine
from reasonrank.engines.bundled_encoder import is_bundled_encoder
from reasonrank.engines.embedded_model import is_embedded_model
from reasonrank.engines.encoders import encoder_kind_of
from reasonrank.presets import (
    DEFAULT_PRESET,
    DEFAULT_PRESETS,
    LLM_DEFAULT_PRESET,
    Preset,
    get_preset,
)
from reasonrank.scheduling.layers import EngineLayer, compose
from reasonrank.secret import Secret, wrap_credentials

if TYPE_CHECKING:  # pragma: no cover
    from reasonrank.spec import RerankerSpec

# Engines whose attention the default method (ICR) can read; any other engine the user names
# gets the default of the generating methods, ReasonRank listwise, which runs everywhere.
ATTENTION_ENGINES = ("embedded-hf", "transformers")
# `--model embedded-1.5b` with a generic engine name means that engine's embedded variant.
EMBEDDED_VARIANT = {"transformers": "embedded-hf", "llamacpp": "embedded"}


# -- the preset -------------------------------------------------------------------------------
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
    return engine == default.engine or engine in ATTENTION_ENGINES or default.method != "icr"


# -- the engine -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class EngineDescription:
    """What engine a spec runs on, resolved: equal descriptions (equal :attr:`key`) build
    interchangeable engines, so a cascade's stages with equal descriptions share one.

    ``options`` are the engine's keyword arguments besides ``model`` (``base_url`` included),
    read-only; ``instance`` is an already built engine the spec was given (its key is that
    object's identity).
    """

    name: str
    model: str | None
    options: Mapping[str, Any] = field(default_factory=dict)
    cache: bool | str = True
    cache_namespace: str = ""
    instance: Engine | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def key(self) -> Hashable:
        """A hashable key, equal for equal descriptions. Credentials take part through
        :class:`Secret`'s own equality and hash (never their printed form, which is redacted
        and would make two different keys look alike)."""
        cache = (self.cache, self.cache_namespace)
        if self.instance is not None:
            return ("object", id(self.instance), cache)
        return (self.name, self.model, freeze(self.options), cache)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EngineDescription):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def create(self) -> Engine:
        """The bare engine (no layers, no cache): the given instance, or a new one."""
        if self.instance is not None:
            return self.instance
        kwargs = dict(self.options)
        if self.model is not None:
            kwargs["model"] = self.model
        return create_engine(self.name, **kwargs)

    def build(self, layers: Sequence[EngineLayer] = ()) -> Engine:
        """The engine wrapped by ``layers`` (innermost first), then by the reply cache this
        description asks for (outermost, so a hit skips every other layer)."""
        from reasonrank.cache.replies import cache_layer  # the cache's store modules, on demand

        cache = cache_layer(self.cache, namespace=self.cache_namespace)
        return compose(self.create(), *layers, *([cache] if cache is not None else []))


def resolve_engine(preset: Preset, *, engine: str | None = None, model: str | None = None,
                   base_url: str | None = None, engine_options: Mapping[str, Any] | None = None,
                   cache: bool | str = True, cache_namespace: str | None = None) -> EngineDescription:
    """The engine of ``preset`` with the caller's engine name / model / URL / options on top
    (the rule :func:`describe_engine` applies to a spec)."""
    name = engine or preset.engine
    chosen_model = model if model is not None else preset.model
    if is_embedded_model(chosen_model):
        name = EMBEDDED_VARIANT.get(name, name)
    elif model is None and name in EMBEDDED_VARIANT.values() and name != preset.engine:
        chosen_model = None  # another preset's hub model id means nothing to an embedded engine
    options: dict[str, Any] = dict(preset.engine_options) if name == preset.engine else {}
    options.update(engine_options or {})
    given = options.pop("model", None)  # the model is the description's own field
    if chosen_model is None:
        chosen_model = given
    if base_url is not None:
        options["base_url"] = base_url
    return EngineDescription(name, chosen_model, wrap_credentials(options), cache, cache_namespace or "")


def describe_engine(spec: RerankerSpec) -> EngineDescription:
    """The engine ``spec`` builds, resolved (see the module docstring). An unknown preset, or a
    method the preset is not for, raises ``ValueError`` here, before anything is built."""
    if isinstance(spec.engine, Engine):
        return EngineDescription(spec.engine.name, spec.engine.model_name, {}, spec.cache,
                                 spec.cache_namespace or "", instance=spec.engine)
    preset = resolve_preset(spec.method, spec.preset, spec.engine, spec.model)
    return resolve_engine(preset, engine=spec.engine, model=spec.model, base_url=spec.base_url,
                          engine_options=spec.engine_options, cache=spec.cache, cache_namespace=spec.cache_namespace)


def freeze(value: Any) -> Hashable:
    """``value`` (engine options: mappings, sequences, scalars, Secrets) as a hashable value
    that compares as the original does. A Secret stays itself (it hashes and compares by what
    it holds); an object that is neither is keyed by its identity, never by its printed form."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((str(k), freeze(v)) for k, v in value.items()), key=lambda kv: kv[0])))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(freeze(v) for v in value))
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return (type(value).__name__, value)  # 1, 1.0 and True stay apart, as in JSON
    return ("object", id(value))


__all__ = ["ATTENTION_ENGINES", "EMBEDDED_VARIANT", "EngineDescription", "describe_engine", "freeze",
           "resolve_engine", "resolve_preset"]
