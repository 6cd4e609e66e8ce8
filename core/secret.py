"""Credentials: a value or an environment-variable reference, resolved when a request needs it.

A :class:`Secret` is how the library holds every credential (an engine's ``api_key``, a
credential HTTP header such as ``Authorization``). It is modelled on Haystack's ``Secret``:

* ``Secret.from_env_var("NAME")`` names an environment variable (several: the first one set);
  it is read at the moment of the request, so a rotated variable is picked up and nothing but
  the name is ever kept. It serialises (``to_dict``, JSON, YAML, pickle for Ray workers) as the
  names: ``{"type": "env_var", "env_vars": ["NAME"], "strict": true}``.
* ``Secret.from_token("sk-...")`` holds a value in memory. It is redacted in ``repr``/``str``
  and serialises as a redacted marker, ``{"type": "token", "redacted": true}``, which cannot be
  turned back into a key (loading it is an error saying to use an environment variable). It
  refuses to pickle: Ray would ship it in clear to its workers. Use an environment variable
  there (set on the workers, e.g. through ``RayOptions.runtime_env``'s ``env_vars``).

A strict env-var Secret whose variables are all unset raises :class:`MissingSecretError`, naming
the variables (never a value), when the first request needs it; a non-strict one resolves to
``None`` (the OpenAI engine's default key, which may be empty for a local server).

:func:`wrap_credentials` turns the credential options of an engine's options (``api_key``, the
credential names in ``headers``) into Secrets; :func:`serialize_secrets` writes any Secret in a
structure in its serialised form.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

from reasonrank.errors import EngineError, InvalidInputError

#: The engine options that are credentials, wherever they appear.
CREDENTIAL_OPTIONS = frozenset({"api_key"})
#: HTTP header names (lower case) that carry a credential, inside an engine's ``headers`` option.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key"})
REDACTED = "**********"
NOT_SHIPPABLE = (
    "a Secret holding a key's value cannot be pickled (it would travel in clear, e.g. to Ray workers); "
    "give the key as an environment variable instead: Secret.from_env_var('NAME'), or "
    '{"type": "env_var", "env_vars": ["NAME"]} in engine_options, with NAME set where the engine runs '
    "(Ray: in the workers' environment, e.g. RayOptions.runtime_env's env_vars)")


#: The key an OpenAI-compatible engine sends upstream when none is given: these variables, read
#: at each request (unset: no key). They mean only the upstream key; ``reasonrank serve``'s
#: client keys have a variable of their own (``REASONRANK_SERVE_API_KEYS``).
UPSTREAM_KEY_ENV_VARS = ("REASONRANK_API_KEY", "OPENAI_API_KEY")


class MissingSecretError(EngineError):
    """A strict environment-variable :class:`Secret` whose variables are all unset (raised when
    a request needs it; the message names the variables, never a value)."""


class Secret:
    """A credential: a value held in memory, or the names of environment variables read when it
    is needed (see the module docstring). Immutable; equal Secrets describe the same source."""

    __slots__ = ("_env_vars", "_strict", "_token")
    _token: str | None
    _env_vars: tuple[str, ...]
    _strict: bool

    def __init__(self, *, token: str | None = None, env_vars: Iterable[str] = (), strict: bool = True) -> None:
        names = tuple(env_vars)
        if (token is None) == (not names):
            raise InvalidInputError("a Secret is either a token or environment variable names, not both or neither")
        if token is not None and (not isinstance(token, str) or not token):
            raise InvalidInputError("a Secret's token must be a non-empty string")
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise InvalidInputError(f"a Secret's environment variable names must be non-empty strings, got {names!r}")
        object.__setattr__(self, "_token", token)
        object.__setattr__(self, "_env_vars", names)
        object.__setattr__(self, "_strict", bool(strict))

    @classmethod
    def from_token(cls, token: str) -> Secret:
        """A Secret holding ``token`` (redacted when shown; refuses to pickle)."""
        return cls(token=token)

    @classmethod
    def from_env_var(cls, *names: str | Iterable[str], strict: bool = True) -> Secret:
        """A Secret read from the first of ``names`` that is set, when a request needs it
        (``strict``: an error naming them if none is set; else ``None``)."""
        flat: list[str] = []
        for name in names:
            flat.extend([name] if isinstance(name, str) else list(name))
        return cls(env_vars=flat, strict=strict)

    # -- what it holds -------------------------------------------------------------------------
    @property
    def env_vars(self) -> tuple[str, ...]:
        """The environment variables read (empty for a token Secret)."""
        return self._env_vars

    @property
    def is_env(self) -> bool:
        return not self._token

    def resolve(self, where: str = "") -> str | None:
        """The credential now: the token, or the first variable set. A strict env-var Secret with
        none set raises :class:`MissingSecretError` naming them (and ``where`` it is used)."""
        if self._token is not None:
            return self._token
        for name in self._env_vars:
            value = os.environ.get(name)
            if value:
                return value
        if self._strict:
            names = " or ".join(f"${n}" for n in self._env_vars)
            raise MissingSecretError(f"{names} is not set{f' ({where})' if where else ''}: set it to the key")
        return None

    # -- serialised forms: never the value -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the variables' names, or a redacted marker for a token."""
        if self._token is not None:
            return {"type": "token", "redacted": True}
        return {"type": "env_var", "env_vars": list(self._env_vars), "strict": self._strict}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Secret:
        """The Secret :meth:`to_dict` wrote (a redacted token cannot be restored: an error)."""
        kind = data.get("type")
        if kind == "env_var":
            return cls(env_vars=list(data.get("env_vars") or ()), strict=bool(data.get("strict", True)))
        if kind == "token":
            raise InvalidInputError("a redacted key cannot be restored from its serialised form; give the key "
                                    "as an environment variable: {\"type\": \"env_var\", \"env_vars\": [\"NAME\"]}")
        raise InvalidInputError(f"not a serialised Secret: type {kind!r} (expected 'env_var')")

    def __repr__(self) -> str:
        if self._token is not None:
            return f"Secret({REDACTED})"
        return f"Secret(env_vars={list(self._env_vars)!r}, strict={self._strict})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self._token, self._env_vars, self._strict) == (other._token, other._env_vars, other._strict)

    def __hash__(self) -> int:
        return hash((self._token, self._env_vars, self._strict))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Secret is immutable")

    # Copies share the object (it is immutable): copy.deepcopy must not go through pickling,
    # which a token Secret refuses.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> Any:
        if self._token is not None:
            raise pickle.PicklingError(NOT_SHIPPABLE)
        return (_env_secret, (self._env_vars, self._strict))


def _env_secret(env_vars: tuple[str, ...], strict: bool) -> Secret:
    return Secret(env_vars=env_vars, strict=strict)


UPSTREAM_KEY = Secret.from_env_var(UPSTREAM_KEY_ENV_VARS, strict=False)


def as_secret(value: Any) -> Secret | None:
    """``value`` as a Secret: a Secret as it is, a string as a token, a serialised Secret
    (``{"type": "env_var", ...}``), a Haystack ``Secret`` or a pydantic ``SecretStr``; ``None``
    and ``""`` as ``None``."""
    if value is None or isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret.from_token(value) if value else None
    if isinstance(value, Mapping):
        return Secret.from_dict(value)
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr
        return as_secret(value.get_secret_value())
    if hasattr(value, "resolve_value") and hasattr(value, "to_dict"):  # a Haystack Secret
        if getattr(value, "type", None) is not None and str(getattr(value.type, "value", value.type)) == "env_var":
            return Secret.from_env_var(*value._env_vars, strict=value._strict)
        return as_secret(value.resolve_value())
    raise InvalidInputError(f"a credential must be a string or a Secret, got {type(value).__name__}")


def wrap_credentials(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (an engine's) with every credential held as a :class:`Secret`: ``api_key``,
    and the credential headers (``Authorization``...) of a ``headers`` mapping."""
    out = dict(options)
    for name in CREDENTIAL_OPTIONS & out.keys():
        out[name] = as_secret(out[name])
    headers = out.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {k: as_secret(v) if str(k).lower() in CREDENTIAL_HEADERS else v for k, v in headers.items()}
    return out


def check_shippable(value: Any) -> None:
    """Raise :class:`~reasonrank.errors.InvalidInputError` (saying to use an environment
    variable) if ``value`` (dicts, lists) holds a token Secret: one clear error before a job
    starts, rather than a pickling failure inside Ray."""
    if isinstance(value, Secret) and not value.is_env:
        raise InvalidInputError(NOT_SHIPPABLE)
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            check_shippable(item)


def serialize_secrets(value: Any) -> Any:
    """``value`` with every Secret in it (in dicts, lists, tuples) as its :meth:`Secret.to_dict`."""
    if isinstance(value, Secret):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: serialize_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_secrets(v) for v in value]
    return value


def resolve(value: str | Secret | None, where: str = "") -> str | None:
    """A credential's value now (a plain string as it is; a Secret resolved)."""
    return value.resolve(where) if isinstance(value, Secret) else value


__all__ = ["CREDENTIAL_HEADERS", "CREDENTIAL_OPTIONS", "UPSTREAM_KEY", "UPSTREAM_KEY_ENV_VARS", "MissingSecretError",
           "Secret", "as_secret", "check_shippable", "resolve", "serialize_secrets", "wrap_credentials"]
