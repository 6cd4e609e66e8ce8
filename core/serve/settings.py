"""The service's limits and switches (set by ``reasonrank serve`` flags)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from reasonrank.errors import InvalidInputError

#: The service's client keys (comma-separated): what a request's bearer token must match.
SERVE_KEYS_ENV = "REASONRANK_SERVE_API_KEYS"
#: The upstream engine's key: never a client key (the service refuses to start when it is set
#: and no client key is, see :func:`check_key_sources`).
UPSTREAM_KEY_ENV = "REASONRANK_API_KEY"
API_KEY_ENV = SERVE_KEYS_ENV  # the variable the service reads its client keys from (old name)


@dataclass(frozen=True)
class ServeSettings:
    """Edge limits of the rerank service.

    ``max_in_flight`` reranks run at once (their windows share the engine); up to
    ``queue_limit`` more wait for a slot; beyond that a request gets 429 with ``Retry-After``.
    ``request_timeout`` bounds one request's reranking once admitted: 504 after it, and its
    windows still queued for the engine are dropped. ``api_key`` and ``api_keys`` (or the
    ``REASONRANK_SERVE_API_KEYS`` env var, comma-separated) and ``api_key_file`` (one key per line, read
    again when it changes) turn on bearer-token auth; any of the keys is accepted. With keys, the
    reply cache keeps one namespace per key unless ``cache_shared``.
    """

    api_key: str | None = None
    api_keys: tuple[str, ...] = ()
    api_key_file: str | None = None
    max_documents: int = 1000
    max_document_bytes: int = 32_768
    max_body_bytes: int = 4 * 1024 * 1024
    max_in_flight: int = 16
    queue_limit: int = 64
    request_timeout: float = 600.0
    retry_after: int = 1
    model_name: str = "reasonrank"
    cache_shared: bool = False  # one result-cache namespace for all API keys (default: one per key)

    def __post_init__(self) -> None:
        for name in ("max_documents", "max_document_bytes", "max_body_bytes", "max_in_flight", "retry_after"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.queue_limit, int) or self.queue_limit < 0:
            raise InvalidInputError(f"queue_limit must be >= 0, got {self.queue_limit!r}")
        if not self.request_timeout > 0:
            raise InvalidInputError(f"request_timeout must be > 0, got {self.request_timeout!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise InvalidInputError("the API key is empty")
        if any(not k.strip() for k in self.api_keys):
            raise InvalidInputError("an API key is empty")

    @property
    def all_keys(self) -> tuple[str, ...]:
        """``api_key`` and ``api_keys`` together (the key file's are read by the service)."""
        return ((self.api_key,) if self.api_key else ()) + tuple(self.api_keys)

    @staticmethod
    def api_key_from(flag: str | None) -> str | None:
        """The ``--api-key`` flag, else the environment variable, else no auth."""
        return flag if flag is not None else (os.environ.get(SERVE_KEYS_ENV) or None)

    @staticmethod
    def api_keys_from(flags: list[str] | None) -> tuple[str, ...]:
        """The ``--api-key`` flags (repeatable), else the environment variable's keys
        (comma-separated), else none."""
        if flags:
            return tuple(flags)
        return tuple(k.strip() for k in os.environ.get(SERVE_KEYS_ENV, "").split(",") if k.strip())


def check_key_sources(flags: list[str] | None, key_file: str | None) -> None:
    """Refuse to start a service that would be open only because ``REASONRANK_API_KEY`` changed
    meaning: it once held the client keys, and now means only the key sent upstream. With it
    set and no client key of the service's own (flags, key file, ``REASONRANK_SERVE_API_KEYS``),
    one error says where client keys go now."""
    if flags or key_file or os.environ.get(SERVE_KEYS_ENV, "").strip():
        return
    if os.environ.get(UPSTREAM_KEY_ENV, "").strip():
        raise InvalidInputError(
            f"{UPSTREAM_KEY_ENV} is set but the service has no client key: {UPSTREAM_KEY_ENV} now means only "
            f"the key sent to the upstream engine, not a key clients present. Set the client keys in "
            f"{SERVE_KEYS_ENV} (comma-separated), --api-key or --api-key-file; to serve with no client key "
            f"while the engine uses an upstream key, give that key as OPENAI_API_KEY instead")
