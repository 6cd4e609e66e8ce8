"""The FastAPI app: every registered API shape (:mod:`reasonrank.serve.apis`: Cohere, Jina/vLLM,
Voyage, Infinity, TEI, vLLM score; one route per path) over one shared reranker, plus
``/health``, ``/metrics`` and ``/v1/stats``. Edge concerns only (auth, limits, admission,
timeouts, errors, metrics, logs); the ranking is the reranker's, the engine sharing is
:class:`~reasonrank.scheduling.SharedEngine`'s, composed in when the reranker is built.
"""
from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from reasonrank.cache.replies import find_cache
from reasonrank.methods.base import Reranker
from reasonrank.scheduling import SharedEngine
from reasonrank.serve.admission import Admission
from reasonrank.serve.apis import load_routes
from reasonrank.serve.edge import (
    HTTPProblem,
    assign_request_id,
    check_auth,
    default_error,
    log,
    log_event,
    public,
    request_id,
)
from reasonrank.serve.metrics import ServiceMetrics
from reasonrank.serve.openapi import (
    HEALTH_RESPONSES,
    METRICS_RESPONSES,
    STATS_RESPONSES,
    rerank_openapi_extra,
    rerank_responses,
)
from reasonrank.serve.openapi import install as install_openapi
from reasonrank.serve.service import RerankService, replace_engine, served_reranker
from reasonrank.serve.settings import SERVE_KEYS_ENV, ServeSettings
from reasonrank.spec import RerankerSpec
from starlette.exceptions import HTTPException as StarletteHTTPException


def share_engine(reranker: Reranker, metrics: ServiceMetrics | None = None) -> SharedEngine:
    """Deprecated: rebuild a built ``reranker`` in place with the sharing layer (a
    :class:`SharedEngine` over its engine) and return that layer. Build with ``RerankerSpec(...).build(layers=[sharing_layer()])`` instead (or hand
    :func:`create_app` the spec)."""
    warnings.warn("reasonrank.serve.share_engine is deprecated; build the reranker with "
                  "layers=[reasonrank.serve.sharing_layer()] or pass create_app a RerankerSpec",
                  DeprecationWarning, stacklevel=2)
    return replace_engine(reranker, metrics)


def _cache_stats(service: RerankService) -> dict[str, int] | None:
    """The reply cache's hits, misses, bypassed and coalesced requests (None: no cache)."""
    cache = find_cache(service.reranker.engine)
    return cache.stats.to_dict() if cache is not None else None


def _lifespan(service: RerankService) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        shared, settings = service.shared, service.settings
        shared.bind_loop(loop)
        service.admission = app.state.admission = Admission(settings.max_in_flight, settings.queue_limit)
        # Sync engines run each rerank in a worker thread that waits on the shared engine's
        # queue: enough threads for every request in flight (the default pool is cpu + 4).
        loop.set_default_executor(ThreadPoolExecutor(settings.max_in_flight + 4, "reasonrank-serve"))
        cache = find_cache(service.reranker.engine)
        if cache is not None:  # the model identity (GET /models, a weights hash): known before ready
            await cache.aidentity()
        app.state.ready = True
        log_event("start", engine=shared.describe(), method=service.reranker.method, settings=public(settings),
                  auth=service.keys.describe())
        if not service.keys.enabled:
            log.warning("no client API key: the service is open to anyone who can reach it (set %s, "
                        "--api-key or --api-key-file)", SERVE_KEYS_ENV)
        try:
            yield
        finally:
            # uvicorn has already let in-flight requests finish (graceful shutdown)
            app.state.ready = False
            await asyncio.to_thread(shared.close)
            log_event("stop", stats=shared.stats.to_dict(), cache=_cache_stats(service))

    return lifespan


def _edge_handlers(app: FastAPI) -> None:
    """Request ids and the default error body, for the service's own endpoints and unknown paths."""

    @app.exception_handler(HTTPProblem)
    async def _problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return default_error(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return default_error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (request %s)", request_id(request))
        return default_error(request, 500, "internal error; see the server log", {})

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Any) -> Response:
        rid = assign_request_id(request)
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response


def _service_routes(app: FastAPI, service: RerankService) -> None:
    """``/health``, ``/metrics`` (Prometheus) and ``/v1/stats``."""
    shared, metrics = service.shared, service.metrics

    @app.get("/health", responses=HEALTH_RESPONSES)
    async def health() -> JSONResponse:
        ok = bool(app.state.ready)
        body = {"status": "ok" if ok else "starting", "method": service.reranker.method,
                **{k: v for k, v in shared.describe().items() if k in ("engine", "model")}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, responses=METRICS_RESPONSES)
    async def prometheus() -> Response:
        adm = service.admission
        if adm is not None:
            metrics.in_flight.set(adm.in_flight)
            metrics.queued.set(adm.waiting)
        metrics.engine_queued.set(shared.stats.queued)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/v1/stats", responses=STATS_RESPONSES)
    async def stats(request: Request) -> JSONResponse:
        check_auth(request, service.keys)
        adm = service.admission
        return JSONResponse({"engine": shared.stats.to_dict(), "admission": adm.to_dict() if adm else None,
                             "cache": _cache_stats(service)})


def create_app(target: RerankerSpec | Reranker, settings: ServeSettings | None = None, *,
               apis: Iterable[str] | None = None) -> FastAPI:
    """The rerank service over the reranker ``target`` describes (a :class:`RerankerSpec`,
    built here with a shared engine; or a reranker already built on one), speaking the API
    shapes ``apis`` (default: every registered one, see :mod:`reasonrank.serve.apis`)."""
    settings = settings or ServeSettings()
    metrics = ServiceMetrics()
    reranker, shared = served_reranker(target, metrics)
    service = RerankService(reranker, shared, settings, metrics)
    cache = find_cache(reranker.engine)
    if cache is not None:
        metrics.watch_cache(cache.stats.to_dict)
    app = FastAPI(title="reasonrank rerank service", version="2", lifespan=_lifespan(service),
                  docs_url=None, redoc_url=None)
    app.state.ready = False
    app.state.service = service
    app.state.reranker = reranker
    app.state.shared = shared
    app.state.metrics = metrics
    app.state.settings = settings
    _edge_handlers(app)
    _service_routes(app, service)
    for route in load_routes(apis):
        app.add_api_route(route.path, service.endpoint(route), methods=["POST"], response_model=None,
                          summary=route.summary, responses=rerank_responses(route),
                          openapi_extra=rerank_openapi_extra(route, settings, service.keys.enabled))
    install_openapi(app, service.keys.enabled)
    return app


__all__ = ["create_app", "share_engine"]
