"""API keys in the framework wrappers: kept out of the options that serialize.

The wrappers (LlamaIndex, Haystack, LangChain) take an engine's key as their own ``api_key``
(a Haystack ``Secret``, a pydantic ``SecretStr``) and hand it to the spec as the core's
:class:`~reasonrank.secret.Secret` (:func:`with_key`; a Haystack env-var ``Secret`` stays an
env-var reference), so ``to_dict``, pipeline YAML and ``repr`` never hold it, and the engine
resolves it only when it sends a request. A key given the old way, inside ``engine_options``, is
moved out with a warning that does not repeat it. With no key, the engine reads
``$REASONRANK_API_KEY`` or ``$OPENAI_API_KEY`` itself.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from reasonrank.secret import UPSTREAM_KEY, UPSTREAM_KEY_ENV_VARS, Secret, as_secret
from reasonrank.spec import RerankerSpec

KEY_OPTION = "api_key"
# The environment variables a wrapper's key defaults to (the OpenAI-compatible engine's own).
KEY_ENV_VARS = UPSTREAM_KEY_ENV_VARS
KEYED_ENGINES = ("openai",)  # the engines that take an API key


def pop_key(engine_options: Mapping[str, Any] | None, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """``engine_options`` without a key's value, and the value it held (with a warning naming
    ``where``'s ``api_key`` parameter, never the key). An environment variable's name (a
    :class:`Secret` or ``{"type": "env_var", ...}``) serialises safely: it stays, as JSON."""
    if not engine_options or KEY_OPTION not in engine_options:
        return (dict(engine_options) if engine_options is not None else None), None
    options = dict(engine_options)
    key = options[KEY_OPTION]
    reference = as_secret(key) if isinstance(key, (Mapping, Secret)) else None
    if reference is not None and reference.is_env:
        options[KEY_OPTION] = reference.to_dict()  # checked, and plain JSON for the framework
        return options, None
    del options[KEY_OPTION]
    warnings.warn(f"{where}: an API key in engine_options would be serialized in clear; it is used "
                  f"as {where}'s api_key instead (pass it there, or set {KEY_ENV_VARS[0]})",
                  UserWarning, stacklevel=3)
    if isinstance(key, Secret):
        return options, key.resolve()
    return options, (str(key) if key is not None else None)


def takes_key(spec: RerankerSpec) -> bool:
    """Whether the engine ``spec`` builds takes an API key (the OpenAI-compatible one)."""
    engine = spec.engine if spec.engine is not None else spec.resolved_preset().engine
    return isinstance(engine, str) and engine in KEYED_ENGINES


def with_key(spec: RerankerSpec, key: Any) -> RerankerSpec:
    """``spec`` with ``key`` (a string, a :class:`Secret`, a Haystack ``Secret`` or a pydantic
    ``SecretStr``) in its engine options as a :class:`Secret`, where its engine takes one and
    none is set."""
    secret = as_secret(key)
    if secret is None or secret == UPSTREAM_KEY or KEY_OPTION in spec.engine_options or not takes_key(spec):
        return spec  # (the engine's own default needs no option)
    return replace(spec, engine_options={**spec.engine_options, KEY_OPTION: secret})


__all__ = ["KEYED_ENGINES", "KEY_ENV_VARS", "KEY_OPTION", "pop_key", "takes_key", "with_key"]
