"""One shared reranker behind every API shape: its engine shared by all requests (built in, as
an engine layer), admission at the door, a timeout per request, the error policy, metrics.

:meth:`RerankService.endpoint` is the route of one path: its shapes (chosen by the path's rule,
:mod:`reasonrank.serve.apis.route`) map the request to a rerank call and the result to their
response; everything else happens here, once.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from reasonrank.cache.replies import cache_scope
from reasonrank.engines.base import Engine
from reasonrank.errors import EngineError, InvalidInputError, ParseError, PromptTooLongError
from reasonrank.methods.base import Reranker, rebuild_in_place
from reasonrank.scheduling import SharedEngine, Ticket, current_ticket
from reasonrank.scheduling.layers import find_layer
from reasonrank.serve.admission import Admission, Overloaded
from reasonrank.serve.apis.route import PathRoute, RouteProblem, Selection
from reasonrank.serve.edge import (
    HTTPProblem,
    check_auth,
    consume,
    decode_json,
    log,
    log_event,
    read_body,
    request_id,
    short,
    to_candidates,
)
from reasonrank.serve.keys import KeyRing
from reasonrank.serve.metrics import ServiceMetrics
from reasonrank.serve.settings import ServeSettings
from reasonrank.spec import EngineLayer, RerankerSpec
from reasonrank.types import Candidate, Query, RerankResult


def sharing_layer(metrics: ServiceMetrics | None = None) -> EngineLayer:
    """The engine layer that shares one engine between concurrent requests (see
    :class:`SharedEngine`), counting its calls in ``metrics``."""

    def share(engine: Engine) -> Engine:
        if isinstance(engine, SharedEngine):
            return engine
        return SharedEngine(engine, on_call=metrics.on_engine_call if metrics else None)

    return share


def served_reranker(target: RerankerSpec | Reranker, metrics: ServiceMetrics) -> tuple[Reranker, SharedEngine]:
    """The reranker to serve and its shared engine: a spec is built with the sharing layer; a
    reranker should already run on a :class:`SharedEngine` (built with ``layers=[sharing_layer()]``)
    — one that does not is served as its rebuild with the sharing layer
    (:meth:`Reranker.with_layers`), with a DeprecationWarning."""
    if isinstance(target, RerankerSpec):
        reranker = target.build(layers=[sharing_layer(metrics)])
    elif isinstance(target, Reranker):
        reranker = target
        if find_layer(reranker.engine, SharedEngine) is None:
            warnings.warn("create_app(reranker) on an unshared engine is deprecated; pass a RerankerSpec, "
                          "or build the reranker with layers=[sharing_layer()]", DeprecationWarning, stacklevel=3)
            reranker = reranker.with_layers(sharing_layer(metrics))
    else:
        raise TypeError(f"serve a RerankerSpec or a Reranker, not {type(target).__name__}")
    shared = find_layer(reranker.engine, SharedEngine)  # under the reply cache, if any
    assert shared is not None
    if shared.on_call is None:  # a reranker built outside create_app: count its engine calls too
        shared.on_call = metrics.on_engine_call
    return reranker, shared


def replace_engine(reranker: Reranker, metrics: ServiceMetrics | None = None) -> SharedEngine:
    """The pre-spec way of sharing, kept for :func:`reasonrank.serve.share_engine` (deprecated):
    ``reranker`` rebuilt in place with the sharing layer (idempotent)."""
    if find_layer(reranker.engine, SharedEngine) is None:
        rebuild_in_place(reranker, sharing_layer(metrics))
    found = find_layer(reranker.engine, SharedEngine)
    assert found is not None
    return found


class RerankService:
    """The served reranker with its shared engine, settings, metrics and (once started) admission."""

    def __init__(self, reranker: Reranker, shared: SharedEngine, settings: ServeSettings,
                 metrics: ServiceMetrics) -> None:
        self.reranker = reranker
        self.shared = shared
        self.settings = settings
        self.metrics = metrics
        self.admission: Admission | None = None
        self.keys = KeyRing(settings.all_keys, settings.api_key_file)

    async def rerank(self, query: Query, cands: list[Candidate], rid: str) -> RerankResult:
        """Admit, rerank on the shared engine under the request's ticket, apply the timeout and
        the error policy (unusable output or ``keep_order``: input order with a warning)."""
        assert self.admission is not None, "the service has not started"
        adm, settings, reranker = self.admission, self.settings, self.reranker
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
            return await asyncio.wait_for(asyncio.shield(task), settings.request_timeout)
        except TimeoutError:
            ticket.cancel()
            task.add_done_callback(consume)
            raise HTTPProblem(504, f"rerank timed out after {settings.request_timeout:g} s") from None
        except ParseError as exc:  # a model-output failure keeps the input order
            return reranker.keep_order_result(query, cands, f"unusable model output: {exc}")
        except (PromptTooLongError, InvalidInputError) as exc:
            raise HTTPProblem(422, str(exc)) from None
        except EngineError as exc:
            if reranker.on_error == "keep_order":
                return reranker.keep_order_result(query, cands, f"engine error: {short(exc)}")
            log_event("engine_error", request_id=rid, error=short(exc))
            raise HTTPProblem(503, f"engine failure: {short(exc)}",
                              {"Retry-After": str(settings.retry_after)}) from None

    async def _answer(self, route: PathRoute, request: Request, rid: str, chosen: list[Selection]) -> JSONResponse:
        check_auth(request, self.keys)
        data = decode_json(await read_body(request, self.settings.max_body_bytes))
        selection = route.select(data)
        chosen.append(selection)
        call = selection.call
        query, cands = to_candidates(call.query, call.documents, self.settings, selection.documents_field)
        self.metrics.documents.inc(len(cands))
        scope = cache_scope.set(self.cache_scope(request))  # the task copies it at creation
        try:
            result = await self.rerank(query, cands, rid)
        finally:
            cache_scope.reset(scope)
        body = selection.respond(result, rid)
        self.count(result)
        log_event("reranked", request_id=rid, documents=len(cands), engine_calls=result.usage.engine_calls,
                  warnings=len(result.warnings), seconds=round(result.seconds, 4))
        return JSONResponse(body)

    async def _answer_or_problem(self, route: PathRoute, request: Request, rid: str) -> Response:
        chosen: list[Selection] = []  # the answering shapes, once the body has said which
        try:
            return await self._answer(route, request, rid, chosen)
        except RouteProblem as exc:
            return _problem(exc.selection.error_body, exc.problem, rid)
        except HTTPProblem as exc:
            return _problem(chosen[0].error_body if chosen else route.error_body, exc, rid)
        except Exception:  # noqa: BLE001 - never a stack trace to the client
            log.exception("unexpected error (request %s)", rid)
            return _problem(route.error_body, HTTPProblem(500, "internal error; see the server log"), rid)

    def endpoint(self, route: PathRoute) -> Callable[[Request], Awaitable[Response]]:
        """The route of one path: its shapes' errors in their own bodies, every request timed
        and counted."""

        async def rerank(request: Request) -> Response:
            started, rid, status = time.perf_counter(), request_id(request), 500
            try:
                response = await self._answer_or_problem(route, request, rid)
                status = response.status_code
                return response
            finally:
                seconds = time.perf_counter() - started
                self.metrics.requests.labels(status=str(status)).inc()
                self.metrics.latency.observe(seconds)
                log_event("rerank", request_id=rid, status=status, seconds=round(seconds, 4))

        return rerank

    def cache_scope(self, request: Request) -> str:
        """The reply cache's namespace of a request: one per API key (a hash of it, so the key
        itself is never kept), unless the service shares the cache between keys."""
        if self.settings.cache_shared or not self.keys.enabled:
            return ""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        return "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]

    def count(self, result: RerankResult) -> None:
        """Tokens and fallbacks of a finished rerank, into the metrics."""
        usage, metrics = result.usage, self.metrics
        metrics.tokens.labels(kind="prompt").inc(usage.prompt_tokens)
        metrics.tokens.labels(kind="completion").inc(usage.completion_tokens)
        metrics.cache.labels(result="hit").inc(usage.cache_hits)
        metrics.cache.labels(result="miss").inc(usage.cache_misses)
        fallbacks = usage.fallbacks + usage.engine_fallbacks
        if not fallbacks:  # a fallback counted only as a warning ("kept ... order")
            fallbacks = sum(1 for w in result.warnings if "kept" in w and "order" in w)
        if fallbacks:
            metrics.fallbacks.inc(fallbacks)


def _problem(error_body: Callable[[int, str, str], Any], exc: HTTPProblem, rid: str) -> JSONResponse:
    return JSONResponse(error_body(exc.status, exc.message, rid), status_code=exc.status,
                        headers={**exc.headers, "X-Request-ID": rid})


__all__ = ["RerankService", "replace_engine", "served_reranker", "sharing_layer"]
