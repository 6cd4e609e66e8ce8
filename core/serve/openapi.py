"""The OpenAPI document as the service's contract: each rerank path's request body (the union of
its shapes' requests, with the limits the edge enforces), every error answer with its body,
and the real content types (``/metrics`` is Prometheus text). Checked by schemathesis
(``tests/serve/test_serve_openapi.py``)."""
from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from reasonrank.serve.apis.base import ApiShape
from reasonrank.serve.apis.route import PathRoute
from reasonrank.serve.settings import ServeSettings

# status -> when, for every rerank path (the same edge for every shape)
ERRORS: dict[int, str] = {
    400: "The body is not JSON.",
    401: "The API key is missing or wrong (when the service has one).",
    413: "The body, the query or a document is over its byte limit.",
    422: "A field is wrong, the query is empty, too many documents, or a prompt cannot fit.",
    429: "Too many requests running and waiting; retry after `Retry-After` seconds.",
    500: "An unexpected error (details only in the server log).",
    503: "The engine failed; retry after `Retry-After` seconds.",
    504: "The rerank took longer than the request timeout.",
}
NON_BLANK = {"type": "string", "pattern": r"\S"}
# A document: a string, an object with a text, or an object of scalar fields read as
# "key: value" lines (at least one besides the title), as reasonrank.inputs reads them.
DOCUMENT_OBJECT = {"anyOf": [
    {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
    {"type": "object", "not": {"required": ["text"]}, "minProperties": 1,
     "additionalProperties": {"type": ["string", "number", "boolean"]},
     "anyOf": [{"minProperties": 2}, {"not": {"required": ["title"]}}]},
]}


def _documents(max_documents: int, objects: bool) -> dict[str, Any]:
    item = {"anyOf": [{"type": "string"}, DOCUMENT_OBJECT]} if objects else {"type": "string"}
    return {"type": "array", "items": item, "minItems": 1, "maxItems": max_documents}


def shape_request_schema(shape: ApiShape, settings: ServeSettings) -> dict[str, Any]:
    """The JSON schema of ``shape``'s request body, with the edge's limits (a non-blank query,
    1 to ``max_documents`` documents) so that a schema-valid body is an accepted one."""
    if shape.request_model is None:  # a shape with its own parse and no model: any object
        return {"type": "object"}
    schema = copy.deepcopy(shape.request_model.model_json_schema())
    assert "$defs" not in schema, f"{shape.name}: nested request models are not inlined"
    props = schema["properties"]
    if "query" in props:
        props["query"] = {**NON_BLANK, "title": "Query"}
    field = props.get(shape.documents_field, {})
    objects = "object" in str(field)
    props[shape.documents_field] = _documents(settings.max_documents, objects)
    return shape.adjust_request_schema(schema, settings.max_documents)


def _without(schema: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """``schema`` for requests that carry none of ``fields`` (another shape's claim)."""
    if not fields:
        return schema
    return {**schema, "not": {"anyOf": [{"required": [f]} for f in fields]}}


def request_schema(route: PathRoute, settings: ServeSettings) -> dict[str, Any]:
    """A path's request body: a claiming shape's request carries its field; the others carry
    none of the claim fields checked before them (see the path rule)."""
    options: list[dict[str, Any]] = []
    claimed: list[str] = []
    for shape in route.claiming:
        options.append(_without(shape_request_schema(shape, settings), list(claimed)))
        claimed.append(str(shape.claim_field))
    options += [_without(shape_request_schema(s, settings), claimed) for s in route.superset]
    return options[0] if len(options) == 1 else {"anyOf": options}


def _keys_schema(body: Any) -> dict[str, Any]:
    return {"type": "object", "required": sorted(body), "properties": {k: {} for k in body}}


def error_schema(route: PathRoute) -> dict[str, Any]:
    """The error bodies a path can answer: the superset's merged body, or one shape's own."""
    bodies = [route.error_body(400, "m", "r")] + [s.error_body(400, "m", "r") for s in route.shapes]
    unique = {tuple(sorted(b)): _keys_schema(b) for b in bodies}
    options = list(unique.values())
    return options[0] if len(options) == 1 else {"anyOf": options}


def rerank_responses(route: PathRoute) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a rerank path (200 and every error status)."""
    kinds = sorted({s.response_type for s in route.shapes})
    ok = {"type": kinds[0]} if len(kinds) == 1 else {"anyOf": [{"type": k} for k in kinds]}
    errors = {"content": {"application/json": {"schema": error_schema(route)}}}
    out: dict[int | str, dict[str, Any]] = {200: {"description": "The ranking, in the request's API shape.",
                                                  "content": {"application/json": {"schema": ok}}}}
    for status, when in ERRORS.items():
        out[status] = {"description": when, **errors}
    return out


def rerank_openapi_extra(route: PathRoute, settings: ServeSettings, auth: bool) -> dict[str, Any]:
    """The request body (and security, with keys) of a rerank path."""
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": request_schema(route, settings)}}}}
    if auth:
        extra["security"] = [{"bearer": []}]
    return extra


def install(app: FastAPI, auth: bool) -> None:
    """Add the bearer security scheme (with keys) to the app's generated document."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            if auth:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The engine is loaded.", "content": JSON_OBJECT},
    503: {"description": "Starting: the engine is not loaded yet.", "content": JSON_OBJECT},
}
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus text exposition format.",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}
STATS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Engine sharing, admission and result-cache counters.", "content": JSON_OBJECT},
    401: {"description": ERRORS[401], "content": JSON_OBJECT},
}

__all__ = ["ERRORS", "install", "request_schema", "rerank_openapi_extra", "rerank_responses"]
