"""vLLM's score shape, on ``/score`` and ``/v1/score``.

Reference: vLLM's own server (``vllm/entrypoints/pooling/scoring``: ``api_router.py``
``create_score``; ``protocol.py`` ``ScoreTextRequest``/``ScoreResponse``), as LiteLLM and the
OpenAI-compatible clients of vLLM call it. Request ``{"model"?, "text_1": str | [str],
"text_2": str | [str]}`` (``queries``/``documents`` are vLLM's other spelling) -> ``{"id",
"object": "list", "created", "model", "data": [{"index", "object": "score", "score"}],
"usage"}``, one score per ``text_2`` item in input order (not sorted). One query per request:
``text_1`` is a string or a list of one. Errors:
``{"error": {"message", "type", "param", "code"}}``.
"""
from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, model_validator
from reasonrank.serve.apis.base import (
    ApiShape,
    RerankCall,
    finite,
    index_of,
    model_of,
    openai_error,
    usage,
)
from reasonrank.serve.edge import HTTPProblem
from reasonrank.types import RerankResult

Texts = StrictStr | list[StrictStr]


class ScoreRequest(BaseModel):
    """``text_1``/``text_2`` (or ``queries``/``documents``) and an optional ``model``."""

    model_config = ConfigDict(extra="ignore")

    text_1: Texts
    text_2: Texts
    model: StrictStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _other_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict) and "text_1" not in data and "queries" in data:
            return {**data, "text_1": data["queries"], "text_2": data.get("documents")}
        return data


def _one_query(text_1: Texts) -> str:
    queries = [text_1] if isinstance(text_1, str) else text_1
    if len(queries) != 1:
        raise HTTPProblem(422, "text_1: one query per request (a string, or a list of one)")
    return queries[0]


class VLLMScore(ApiShape):
    """vLLM's ``POST /score``: scores in input order."""

    name = "vllm-score"
    paths = ("/score", "/v1/score")
    summary = "Score documents against a query (vLLM score shape)"
    documents_field = "text_2"
    request_model = ScoreRequest

    def parse(self, data: Any) -> RerankCall:
        body = self.validate(ScoreRequest, data)
        documents = [body.text_2] if isinstance(body.text_2, str) else body.text_2
        return RerankCall(query=_one_query(body.text_1), documents=documents, request=body)

    def adjust_request_schema(self, schema: dict[str, Any], max_documents: int) -> dict[str, Any]:
        props = schema["properties"]
        query = {"type": "string", "pattern": r"\S"}
        props["text_1"] = {"anyOf": [query, {"type": "array", "items": query, "minItems": 1, "maxItems": 1}]}
        props["text_2"] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                                          "minItems": 1, "maxItems": max_documents}]}
        return schema

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        scores = {index_of(r): finite(r.score) for r in result.ranked}
        data = [{"index": i, "object": "score", "score": scores.get(i, 0.0)} for i in range(len(call.documents))]
        return {"id": request_id, "object": "list", "created": int(time.time()),
                "model": model_of(result), "data": data,
                "usage": {**usage(result), "completion_tokens": int(result.usage.completion_tokens)}}

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return openai_error(status, message)


__all__ = ["ScoreRequest", "VLLMScore"]
