"""The Infinity rerank shape, on ``/rerank`` (shared) and ``/infinity/rerank`` (its own).

Reference: Infinity's OpenAPI document as its generated client ``infinity-client`` carries it
(``RerankInput``: ``{"query", "documents": [str], "return_documents"?, "raw_scores"?,
"model"?, "top_n"?}``; ``ReRankResult``: ``{"object": "rerank", "results": [{"relevance_score",
"index", "document"?: str}], "model", "usage": {"prompt_tokens", "total_tokens"}, "id",
"created"}``). Infinity returns documents as plain strings where Jina/vLLM return ``{"text"}``
on the same path, so Infinity's answer is given to the requests only Infinity's client sends:
those with ``raw_scores`` (``infinity-client`` always sends it). Others get the path's superset
(Jina's document objects); a client whose request looks like Cohere's (LiteLLM's ``infinity/``
provider) is pointed at ``/infinity/rerank`` (``api_base=http://host/infinity``). Errors: ``{"error": {"message", "type", "param", "code"}}``.
"""
from __future__ import annotations

import time
from typing import Any

from pydantic import StrictBool, StrictStr
from reasonrank.serve.apis.base import (
    ApiShape,
    PositiveCount,
    QueryDocuments,
    RerankCall,
    items,
    model_of,
    openai_error,
    usage,
)
from reasonrank.types import RerankResult


class InfinityRequest(QueryDocuments):
    documents: list[StrictStr]  # type: ignore[assignment]  # Infinity takes strings only
    top_n: PositiveCount | None = None
    return_documents: StrictBool = False
    raw_scores: StrictBool = False


class InfinityRerank(ApiShape):
    """Infinity's ``POST /rerank`` (claimed by ``raw_scores``)."""

    name = "infinity"
    paths = ("/rerank", "/infinity/rerank")
    summary = "Rerank documents for a query (Infinity rerank shape)"
    claim_field = "raw_scores"
    request_model = InfinityRequest

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        body: InfinityRequest = call.request
        results = items(result, call, body.top_n, document=str if body.return_documents else None)
        return {"object": "rerank", "results": results, "model": model_of(result),
                "usage": usage(result), "id": request_id, "created": int(time.time())}

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return openai_error(status, message)


__all__ = ["InfinityRequest", "InfinityRerank"]
