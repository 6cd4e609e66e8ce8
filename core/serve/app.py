"""The FastAPI app: Cohere-v2-compatible ``/v2/rerank`` (and ``/v1/rerank``) over one shared
reranker. Edge concerns only (auth, limits, admission, timeouts, errors, metrics, logs); the
ranking is the reranker's, the engine sharing is :class:`~reasonrank.methods.shared_scheduler.SharedEngine`'s.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from reasonrank.errors import EngineError, InvalidInputError, ParseError, PromptTooLongError
from reasonrank.methods.base import Reranker
from reasonrank.methods.shared_scheduler import SharedEngine, Ticket, current_ticket
from reasonrank.serve.admission import Admission, Overloaded
from reasonrank.serve.metrics import ServiceMetrics
from reasonrank.serve.models import (
    Meta,
    ReasoningInfo,
    RerankRequest,
    RerankResponse,
    ResultItem,
    Tokens,
)
from reasonrank.serve.settings import ServeSettings
from reasonrank.types import Candidate, Query, RerankResult
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("reasonrank.serve")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class HTTPProblem(Exception):
    """An error answer: status, one-line message, optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def log_event(event: str, **fields: Any) -> None:
    """One structured (JSON) log line."""
    log.info(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str))


def share_engine(reranker: Reranker, metrics: ServiceMetrics | None = None) -> SharedEngine:
    """Put a :class:`SharedEngine` under ``reranker`` (idempotent); returns it."""
    if isinstance(reranker.engine, SharedEngine):
        return reranker.engine
    shared = SharedEngine(reranker.engine, on_call=metrics.on_engine_call if metrics else None)
    reranker.engine = shared
    return shared


def create_app(reranker: Reranker, settings: ServeSettings | None = None) -> FastAPI:
    """The rerank service over ``reranker`` (its engine becomes shared by all requests)."""
    settings = settings or ServeSettings()
    metrics = ServiceMetrics()
    shared = share_engine(reranker, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        shared.bind_loop(loop)
        admission = Admission(settings.max_in_flight, settings.queue_limit)
        app.state.admission = admission
        # Sync engines run each rerank in a worker thread that waits on the shared engine's
        # queue: enough threads for every request in flight (the default pool is cpu + 4).
        loop.set_default_executor(ThreadPoolExecutor(settings.max_in_flight + 4, "reasonrank-serve"))
        app.state.ready = True
        log_event("start", engine=shared.describe(), method=reranker.method, settings=_public(settings))
        try:
            yield
        finally:
            # uvicorn has already let in-flight requests finish (graceful shutdown)
            app.state.ready = False
            await asyncio.to_thread(shared.close)
            log_event("stop", stats=shared.stats.to_dict())

    app = FastAPI(title="reasonrank rerank service", version="2", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.ready = False
    app.state.reranker = reranker
    app.state.shared = shared
    app.state.metrics = metrics
    app.state.settings = settings

    @app.exception_handler(HTTPProblem)
    async def _problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return _error(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (request %s)", _rid(request))
        return _error(request, 500, "internal error; see the server log", {})

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Any) -> Response:
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.get("/health")
    async def health() -> JSONResponse:
        ok = bool(app.state.ready)
        body = {"status": "ok" if ok else "starting", "method": reranker.method,
                **{k: v for k, v in shared.describe().items() if k in ("engine", "model")}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        adm: Admission | None = getattr(app.state, "admission", None)
        if adm is not None:
            metrics.in_flight.set(adm.in_flight)
            metrics.queued.set(adm.waiting)
        metrics.engine_queued.set(shared.stats.queued)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/v1/stats")
    async def stats(request: Request) -> JSONResponse:
        _check_auth(request, settings)
        adm: Admission = app.state.admission
        return JSONResponse({"engine": shared.stats.to_dict(), "admission": adm.to_dict()})

    async def rerank(request: Request) -> JSONResponse:
        started = time.perf_counter()
        rid = _rid(request)
        status = 500
        try:
            response = await _rerank(request, rid)
            status = response.status_code
            return response
        except HTTPProblem as exc:
            status = exc.status
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.requests.labels(status=str(status)).inc()
            metrics.latency.observe(seconds)
            log_event("rerank", request_id=rid, status=status, seconds=round(seconds, 4))

    async def _rerank(request: Request, rid: str) -> JSONResponse:
        _check_auth(request, settings)
        body = parse_body(await read_body(request, settings.max_body_bytes))
        query, cands = to_candidates(body, settings)
        metrics.documents.inc(len(cands))
        adm: Admission = app.state.admission
        try:
            await adm.acquire()
        except Overloaded as exc:
            raise HTTPProblem(429, f"server busy ({exc}); retry later",
                              {"Retry-After": str(settings.retry_after)}) from None
        ticket = Ticket(id=rid)
        token = current_ticket.set(ticket)  # copied into the task (and its worker threads)
        try:
            task = asyncio.ensure_future(reranker.arerank(query, cands))
        finally:
            current_ticket.reset(token)
        task.add_done_callback(lambda _t: adm.release())  # the slot is held until the work ends
        try:
            result = await asyncio.wait_for(asyncio.shield(task), settings.request_timeout)
        except asyncio.TimeoutError:
            ticket.cancel()
            task.add_done_callback(_consume)
            raise HTTPProblem(504, f"rerank timed out after {settings.request_timeout:g} s") from None
        except ParseError as exc:  # a model-output failure keeps the input order
            result = reranker.keep_order_result(query, cands, f"unusable model output: {exc}")
        except PromptTooLongError as exc:
            raise HTTPProblem(422, str(exc)) from None
        except InvalidInputError as exc:
            raise HTTPProblem(422, str(exc)) from None
        except EngineError as exc:
            if reranker.on_error == "keep_order":
                result = reranker.keep_order_result(query, cands, f"engine error: {_short(exc)}")
            else:
                log_event("engine_error", request_id=rid, error=_short(exc))
                raise HTTPProblem(503, f"engine failure: {_short(exc)}",
                                  {"Retry-After": str(settings.retry_after)}) from None
        out = to_response(result, body, rid)
        _count(metrics, result)
        log_event("reranked", request_id=rid, documents=len(cands), engine_calls=result.usage.engine_calls,
                  warnings=len(result.warnings), seconds=round(result.seconds, 4))
        return JSONResponse(out.model_dump(exclude_none=True))

    for path in ("/v2/rerank", "/v1/rerank"):
        app.add_api_route(path, rerank, methods=["POST"], response_model=None,
                          summary="Rerank documents for a query (Cohere v2 rerank shape)")
    return app


# -- request side -------------------------------------------------------------------------------
def _check_auth(request: Request, settings: ServeSettings) -> None:
    if settings.api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPProblem(401, "missing bearer token (Authorization: Bearer <key>)",
                          {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
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


def parse_body(raw: bytes) -> RerankRequest:
    """Validated request; 400 for bad JSON, 422 for wrong fields (messages name the field)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HTTPProblem(422, "body must be a JSON object with 'query' and 'documents'")
    try:
        return RerankRequest.model_validate(data)
    except ValidationError as exc:
        raise HTTPProblem(422, "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )) from None


def document_text(doc: str | dict[str, Any], index: int) -> tuple[str, str | None]:
    """(text, title) of one document: a string, or an object with ``text`` (and ``title``);
    other objects become ``key: value`` lines (Cohere: structured data as YAML)."""
    if isinstance(doc, str):
        return doc, None
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    text = doc.get("text")
    if isinstance(text, str):
        return text, title
    if "text" in doc:
        raise HTTPProblem(422, f"documents.{index}.text: must be a string")
    lines = [f"{k}: {v}" for k, v in doc.items() if k != "title" and isinstance(v, (str, int, float))]
    if not lines:
        raise HTTPProblem(422, f"documents.{index}: an object document needs a 'text' string")
    return "\n".join(lines), title


def to_candidates(body: RerankRequest, settings: ServeSettings) -> tuple[Query, list[Candidate]]:
    """The query and candidates (id = the document's index), with the edge limits applied."""
    if not body.query.strip():
        raise HTTPProblem(422, "query: must not be empty")
    n = len(body.documents)
    if n == 0:
        raise HTTPProblem(422, "documents: must not be empty")
    if n > settings.max_documents:
        raise HTTPProblem(422, f"documents: {n} documents; the limit is {settings.max_documents} per request")
    if len(body.query.encode("utf-8", "surrogatepass")) > settings.max_document_bytes:
        raise HTTPProblem(413, f"query is longer than {settings.max_document_bytes} bytes")
    cands = []
    for i, doc in enumerate(body.documents):
        text, title = document_text(doc, i)
        size = len(text.encode("utf-8", "surrogatepass")) + len((title or "").encode("utf-8", "surrogatepass"))
        if size > settings.max_document_bytes:
            raise HTTPProblem(413, f"documents.{i}: {size} bytes; the limit is {settings.max_document_bytes} "
                                   "bytes per document")
        cands.append(Candidate(id=str(i), text=text, title=title))
    return Query(text=body.query), cands


# -- response side ------------------------------------------------------------------------------
def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def to_response(result: RerankResult, body: RerankRequest, rid: str) -> RerankResponse:
    """Cohere v2 response: ranked ``results`` (top_n of them), ``meta``, and ``reasonrank``."""
    ranked = result.ranked[: body.top_n] if body.top_n else result.ranked
    items = []
    for r in ranked:
        index = int(r.candidate.id)
        doc = body.documents[index]
        items.append(ResultItem(
            index=index,
            relevance_score=_finite(r.score),
            document=({"text": doc} if isinstance(doc, str) else dict(doc)) if body.return_documents else None,
            reasoning=r.reasoning,
        ))
    usage = result.usage
    kept = bool(getattr(usage, "fallbacks", 0) or getattr(usage, "engine_fallbacks", 0)) or any(
        "kept" in w for w in result.warnings)
    return RerankResponse(
        id=rid,
        results=items,
        meta=Meta(tokens=Tokens(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
                  warnings=list(result.warnings)),
        reasonrank=ReasoningInfo(
            method=result.method, model=result.model, reasoning=result.reasoning, warnings=list(result.warnings),
            engine_calls=usage.engine_calls, seconds=round(result.seconds, 4), kept_input_order=kept,
        ),
    )


def _count(metrics: ServiceMetrics, result: RerankResult) -> None:
    usage = result.usage
    metrics.tokens.labels(kind="prompt").inc(usage.prompt_tokens)
    metrics.tokens.labels(kind="completion").inc(usage.completion_tokens)
    fallbacks = getattr(usage, "fallbacks", 0) + getattr(usage, "engine_fallbacks", 0)
    if not fallbacks:  # before usage counted fallbacks: one per "kept ... order" warning
        fallbacks = sum(1 for w in result.warnings if "kept" in w and "order" in w)
    if fallbacks:
        metrics.fallbacks.inc(fallbacks)


def _error(request: Request, status: int, message: str, headers: dict[str, str]) -> JSONResponse:
    rid = _rid(request)
    return JSONResponse({"message": message, "request_id": rid}, status_code=status,
                        headers={**headers, "X-Request-ID": rid})


def _rid(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "-"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _consume(task: asyncio.Future) -> None:
    """Retrieve a timed-out task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _public(settings: ServeSettings) -> dict[str, Any]:
    data = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    data["api_key"] = "set" if settings.api_key else None
    return data
