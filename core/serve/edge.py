"""What every request meets at the edge, whatever its API shape: request ids, auth, the body
limit, JSON decoding, the document limits, structured logs and the default error body."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from reasonrank.errors import InvalidInputError
from reasonrank.inputs import coerce_candidate
from reasonrank.serve.keys import KeyRing
from reasonrank.serve.settings import ServeSettings
from reasonrank.types import Candidate, Query

log = logging.getLogger("reasonrank.serve")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class HTTPProblem(Exception):
    """An error answer: status, one-line message, optional headers (each API shape writes
    its own error body from it)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def log_event(event: str, **fields: Any) -> None:
    """One structured (JSON) log line."""
    log.info(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str))


def request_id(request: Request) -> str:
    """The request's id (the caller's ``X-Request-ID`` when well formed), set by the app."""
    return getattr(request.state, "request_id", None) or "-"


def assign_request_id(request: Request) -> str:
    """Take the caller's ``X-Request-ID`` if it is safe to log, else a fresh one."""
    given = request.headers.get("x-request-id", "")
    request.state.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    return request.state.request_id


def default_error(request: Request, status: int, message: str, headers: dict[str, str]) -> JSONResponse:
    """The error body of the service's own endpoints (and unknown paths): ``{"message",
    "request_id"}``, Cohere's shape."""
    rid = request_id(request)
    return JSONResponse({"message": message, "request_id": rid}, status_code=status,
                        headers={**headers, "X-Request-ID": rid})


def check_auth(request: Request, keys: KeyRing) -> None:
    """Bearer-token auth when the service has API keys (401 otherwise; any key is accepted)."""
    if not keys.enabled:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPProblem(401, "missing bearer token (Authorization: Bearer <key>)",
                          {"WWW-Authenticate": "Bearer"})
    if not keys.accepts(token.strip()):
        raise HTTPProblem(401, "invalid API key", {"WWW-Authenticate": "Bearer"})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"request body is {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(raw: bytes) -> Any:
    """The decoded body; 400 when it is not JSON."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, f"body is not valid JSON: {exc}") from None


def _size(text: str | None) -> int:
    return len((text or "").encode("utf-8", "surrogatepass"))


def to_candidates(query: str, documents: Sequence[Any], settings: ServeSettings,
                  field: str = "documents") -> tuple[Query, list[Candidate]]:
    """The query and candidates (id = the document's index, what every rerank API answers
    with), the edge limits applied; ``field`` is how the API shape names its documents."""
    if not query.strip():
        raise HTTPProblem(422, "query: must not be empty")
    n = len(documents)
    if n == 0:
        raise HTTPProblem(422, f"{field}: must not be empty")
    if n > settings.max_documents:
        raise HTTPProblem(422, f"{field}: {n} documents; the limit is {settings.max_documents} per request")
    if _size(query) > settings.max_document_bytes:
        raise HTTPProblem(413, f"query is longer than {settings.max_document_bytes} bytes")
    cands = []
    for i, doc in enumerate(documents):
        try:
            cand = coerce_candidate(doc, i, where=f"{field}.{i}", positional_id=True, structured=True)
        except InvalidInputError as exc:
            raise HTTPProblem(422, str(exc)) from None
        size = _size(cand.text) + _size(cand.title)
        if size > settings.max_document_bytes:
            raise HTTPProblem(413, f"{field}.{i}: {size} bytes; the limit is {settings.max_document_bytes} "
                                   "bytes per document")
        cands.append(cand)
    return Query(text=query), cands


def short(exc: BaseException, limit: int = 300) -> str:
    """One line of at most ``limit`` characters (an engine's error in a response)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def consume(task: asyncio.Future) -> None:
    """Retrieve a timed-out task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def public(settings: ServeSettings) -> dict[str, Any]:
    """The settings as logged at start-up (the API key only as "set")."""
    data = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    data["api_key"] = "set" if settings.api_key else None
    data["api_keys"] = len(settings.api_keys)
    return data
