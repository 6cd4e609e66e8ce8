"""One reranker spec: what every entry point builds a reranker from.

The CLI (its reranker options are generated from the fields below), the LlamaIndex and
Haystack wrappers (their fields map onto these), ``reasonrank serve``, Ray replicas and
:func:`reasonrank.load_reranker` all describe a reranker as a :class:`RerankerSpec` and call
:meth:`RerankerSpec.build`. The options every method shares (``on_error``,
``on_parse_error``, ``depth``, fusion with the first stage...) are fields of their own, defined
once here; a method's own settings go in ``method_options``.

>>> spec = RerankerSpec(preset="reasonrank-7b", engine="openai", base_url="http://gpu:8000/v1")
>>> reranker = spec.build()  # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from reasonrank.checks import (  # the shared option names: re-exported, their home is checks
    FUSION_OPTIONS,
    SHARED_METHOD_OPTIONS,
    check_choice,
    check_shared_options,
)
from reasonrank.engines.base import Engine
from reasonrank.errors import InvalidInputError
from reasonrank.scheduling.layers import EngineLayer
from reasonrank.secret import serialize_secrets, wrap_credentials

if TYPE_CHECKING:  # pragma: no cover
    from reasonrank.methods.base import Reranker
    from reasonrank.resolution import EngineDescription




def _cli(help: str, **argparse: Any) -> dict[str, Any]:
    """Field metadata: the help text, plus how the CLI option is made (see ``cli.common``);
    ``cli=False`` fields get no generated option (a subcommand adds its own)."""
    return {"help": help, **argparse}


def cache_arg(text: str) -> bool | str:
    """``--cache``'s value: ``off``/``false`` none, ``memory``/``on`` the in-process LRU, else a folder."""
    lowered = text.strip().lower()
    if lowered in ("off", "false", "no", "0", "none"):
        return False
    if lowered in ("memory", "on", "true", "yes", "1"):
        return True
    return text


@dataclass(frozen=True)
class RerankerSpec:
    """How to build a reranker: method, preset, engine, model and options, as data.

    Every field is optional: ``RerankerSpec()`` is the library's embedded CPU default.
    ``engine`` is an engine name, or (Python API) an already built :class:`Engine` to share
    between rerankers. The field metadata (``help``...) makes the CLI options. Calling
    the spec (``spec()``) builds it, so a spec is also the zero-argument factory Ray replicas
    use (it must pickle there: give ``engine`` as a name, not an object).
    """

    method: str | None = field(default=None, metadata=_cli(
        "reranking method (default: the preset's; the embedded default otherwise)", choices="methods"))
    preset: str | None = field(default=None, metadata=_cli(
        "named preset (see `reasonrank presets`) or a preset TOML file"))
    engine: str | Engine | None = field(default=None, metadata=_cli(
        "engine backend (default: the preset's; the embedded CPU model otherwise)", choices="engines"))
    model: str | None = field(default=None, metadata=_cli("model id or local path for the engine"))
    base_url: str | None = field(default=None, metadata=_cli(
        "OpenAI-compatible server URL (with --engine openai); several, comma-separated, "
        "spread Ray replicas over a fleet"))
    engine_options: dict[str, Any] = field(default_factory=dict, metadata=_cli(
        'extra engine settings as JSON, e.g. \'{"n_ctx": 8192}\'', json=True))
    method_options: dict[str, Any] = field(default_factory=dict, metadata=_cli(
        'extra method settings as JSON, e.g. \'{"window_size": 10}\'', json=True))
    on_error: Literal["raise", "keep_order"] = field(default="raise", metadata=_cli(
        "on an engine failure (server down, timeout, HTTP error): raise (exit 3), or keep the "
        "input order with a warning", choices=("raise", "keep_order")))
    on_parse_error: Literal["keep_order", "raise"] | None = field(default=None, metadata=_cli(
        "on a model output with no usable answer: keep that window's input order or give the "
        "fallback score, with a warning (the default), or raise (--strict)",
        choices=("keep_order", "raise"), strict_flag=True))
    depth: int | None = field(default=None, metadata=_cli(
        "rerank only the first K candidates (rerank depth); the rest follow in input order "
        "(default: the preset's; all)", cli=False))
    fusion: Literal["rrf", "score"] | None = field(default=None, metadata=_cli(
        "fuse the reranker's order with the first stage's: rrf (reciprocal rank) or score "
        "(default: the preset's; none)", choices=("rrf", "score")))
    fusion_weight: float | None = field(default=None, metadata=_cli(
        "the reranker's share in the fusion, 0-1 (default 0.5)", type=float, metavar="W"))
    rrf_k: float | None = field(default=None, metadata=_cli("RRF's constant (default 60)", type=float, metavar="K"))
    show_progress: bool = field(default=False, metadata=_cli("a progress bar over queries", cli=False))
    cache: bool | str = field(default=True, metadata=_cli(
        "reply cache: 'memory' (the default: an in-process LRU), 'off', or a folder for an on-disk "
        "store shared by processes", type=cache_arg, metavar="DIR|memory|off"))
    cache_namespace: str | None = field(default=None, metadata=_cli(
        "a name kept apart in the cache (a server that swaps weights under one model name)"))

    def __post_init__(self) -> None:
        from reasonrank.engines import ENGINES
        from reasonrank.methods import method_names

        if self.method is not None and self.method not in method_names():
            raise InvalidInputError(f"unknown method {self.method!r}; choose one of {method_names()}")
        if isinstance(self.engine, str) and self.engine not in ENGINES:
            raise InvalidInputError(f"unknown engine {self.engine!r}; choose one of {sorted(ENGINES)}")
        if self.engine is not None and not isinstance(self.engine, (str, Engine)):
            raise InvalidInputError(f"engine must be a name or an Engine, got {type(self.engine).__name__}")
        for name in ("engine_options", "method_options"):
            if not isinstance(getattr(self, name), Mapping):
                raise InvalidInputError(f"{name} must be a mapping, got {type(getattr(self, name)).__name__}")
        # Credentials (api_key, an Authorization header) are held as Secrets: never shown or written.
        object.__setattr__(self, "engine_options", wrap_credentials(self.engine_options))
        check_shared_options(self.on_error, self.on_parse_error, self.depth, unset_ok=True)
        check_choice("fusion", self.fusion, (None, "rrf", "score"))
        object.__setattr__(self, "cache", _check_cache(self.cache))  # frozen: normalise in place

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_options(cls, method: str | None = None, preset: str | None = None, **options: Any) -> RerankerSpec:
        """A spec from :func:`build_reranker`-style keywords: the spec's fields by name, any
        other keyword a method setting (``window_size=10`` lands in ``method_options``)."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in options.items() if k in names}
        extra = {k: v for k, v in options.items() if k not in names}
        if extra:
            given["method_options"] = {**dict(given.get("method_options") or {}), **extra}
        given["engine_options"] = dict(given.get("engine_options") or {})
        return cls(method=method, preset=preset, **given)

    @classmethod
    def from_object(cls, obj: Any, **overrides: Any) -> RerankerSpec:
        """The spec of a wrapper (LlamaIndex, Haystack) whose attributes are named like the
        spec's fields: each field read from ``obj`` where it has one, ``overrides`` on top."""
        values = {f.name: getattr(obj, f.name) for f in fields(cls) if hasattr(obj, f.name)}
        values.update(overrides)
        for name in ("engine_options", "method_options"):
            values[name] = dict(values.get(name) or {})
        return cls(**values)

    def build(self, *, layers: Sequence[EngineLayer] = ()) -> Reranker:
        """The ready reranker: the preset's settings, then this spec's on top.

        ``layers`` wrap the engine, innermost first, before the method is constructed (e.g.
        ``reasonrank serve`` shares one engine between requests this way), so every part of
        the reranker — a fused reranker's inner one included — sees the same wrapped engine.
        """
        from reasonrank.methods import method_class
        from reasonrank.options import check_method_options

        chosen = self.resolved_preset()
        if chosen.method == "cascade":  # the multi-stage form: each stage a spec of its own
            from reasonrank.methods.cascade_spec import build_cascade

            return build_cascade(self, {**chosen.method_options, **self.method_options}, layers)
        engine = self.build_engine(layers=layers)
        options = {**chosen.method_options, **self.method_options, **self._shared_options()}
        check_method_options(chosen.method, options)  # the method's declared options (reasonrank.options)
        fusion = {k: options.pop(k) for k in FUSION_OPTIONS if k in options}
        reranker = method_class(chosen.method)(engine, **options)
        if fusion.get("fusion") is None:
            return reranker
        from reasonrank.methods.fusion import FusedReranker

        return FusedReranker(reranker, fusion=fusion["fusion"], weight=fusion.get("fusion_weight", 0.5),
                             rrf_k=fusion.get("rrf_k", 60.0))

    def build_engine(self, *, layers: Sequence[EngineLayer] = ()) -> Engine:
        """The engine alone (the preset's, with this spec's engine/model/URL/options on top),
        wrapped by ``layers`` and then the reply cache; an Engine object given as ``engine``
        is used as it is (wrapped likewise)."""
        return self.engine_description().build(layers)

    def engine_description(self) -> EngineDescription:
        """The engine this spec runs on, resolved (:func:`reasonrank.resolution.describe_engine`:
        the one resolution that building and a cascade's engine sharing both use)."""
        from reasonrank.resolution import describe_engine  # the engines' helpers load on first use

        return describe_engine(self)

    def resolved_preset(self) -> Any:
        """The :class:`~reasonrank.presets.Preset` this spec builds on (an unknown preset, or a
        method the preset is not for, raises here: check a spec before starting a cluster)."""
        from reasonrank.resolution import resolve_preset

        return resolve_preset(self.method, self.preset, self.engine, self.model)

    def _shared_options(self) -> dict[str, Any]:
        """The shared options this spec sets (None: the preset's or the method's default)."""
        values = {name: getattr(self, name) for name in (*SHARED_METHOD_OPTIONS, *FUSION_OPTIONS)}
        if not self.show_progress:
            del values["show_progress"]
        return {k: v for k, v in values.items() if v is not None}

    def __call__(self) -> Reranker:
        """Build the reranker (a spec is a picklable zero-argument factory for Ray)."""
        return self.build()

    # -- data -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults, JSON-ready (an Engine object as its name; a
        credential as its environment variable's name, or a redacted marker: see
        :mod:`reasonrank.secret`)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Engine):
                value = value.name
            if value != (f.default_factory() if callable(f.default_factory) else f.default):
                out[f.name] = serialize_secrets(dict(value)) if isinstance(value, Mapping) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RerankerSpec:
        """The spec :meth:`to_dict` wrote (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInputError(f"unknown reranker spec fields {unknown}; known: {sorted(names)}")
        return cls(**data)

    @property
    def base_urls(self) -> list[str]:
        """The served fleet: ``base_url`` may list several endpoints, comma-separated."""
        return [u.strip() for u in (self.base_url or "").split(",") if u.strip()]

    def for_replica(self, index: int) -> RerankerSpec:
        """This spec with one endpoint of the fleet, round-robin by replica number."""
        urls = self.base_urls
        return replace(self, base_url=urls[index % len(urls)]) if len(urls) > 1 else self


def _check_cache(cache: Any) -> bool | str:
    """The cache option, checked before any engine is built (a folder must be writable):
    None means the default (memory), a path becomes its string."""
    if cache is None:
        return True
    if isinstance(cache, bool):
        return cache
    if isinstance(cache, os.PathLike):
        cache = os.fspath(cache)
    if not isinstance(cache, str) or not cache.strip():
        raise InvalidInputError(f"cache must be True, False or a folder, got {cache!r}")
    from reasonrank.cache.stores import prepare_folder

    prepare_folder(cache)
    return cache


def spec_fields() -> tuple[str, ...]:
    """The names of the spec's fields (the wrappers' tests check their fields against these)."""
    return tuple(f.name for f in fields(RerankerSpec))


__all__ = ["FUSION_OPTIONS", "SHARED_METHOD_OPTIONS", "EngineLayer", "RerankerSpec", "spec_fields"]
