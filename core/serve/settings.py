"""The service's limits and switches (set by ``reasonrank serve`` flags)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from reasonrank.errors import InvalidInputError

API_KEY_ENV = "REASONRANK_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """Edge limits of the rerank service.

    ``max_in_flight`` reranks run at once (their windows share the engine); up to
    ``queue_limit`` more wait for a slot; beyond that a request gets 429 with ``Retry-After``.
    ``request_timeout`` bounds one request's reranking once admitted: 504 after it, and its
    windows still queued for the engine are dropped. ``api_key`` (or the ``REASONRANK_API_KEY`` env var) turns on
    bearer-token auth.
    """

    api_key: str | None = None
    max_documents: int = 1000
    max_document_bytes: int = 32_768
    max_body_bytes: int = 4 * 1024 * 1024
    max_in_flight: int = 16
    queue_limit: int = 64
    request_timeout: float = 600.0
    retry_after: int = 1
    model_name: str = "reasonrank"

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

    @staticmethod
    def api_key_from(flag: str | None) -> str | None:
        """The ``--api-key`` flag, else the environment variable, else no auth."""
        return flag if flag is not None else (os.environ.get(API_KEY_ENV) or None)
