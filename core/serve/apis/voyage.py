"""The Voyage AI rerank shape, on ``/v1/rerank``.

Reference: https://docs.voyageai.com/reference/reranker-api and the ``voyageai`` SDK
(``Client.rerank`` posts ``{"query", "documents", "model", "top_k", "truncation"}`` to
``{base_url}/rerank`` and reads ``data[].index/relevance_score`` and ``usage.total_tokens``;
errors are read from ``{"detail"}``). Request ``{"query", "documents": [str], "model"?,
"top_k"?, "return_documents"?, "truncation"?}`` -> ``{"object": "list", "data": [{"index",
"relevance_score", "document"?: str}], "model", "usage": {"total_tokens"}}``. ``truncation``
is accepted and ignored (passages are cut by the method's own token budget).
"""
from __future__ import annotations

from typing import Any

from pydantic import StrictBool
from reasonrank.serve.apis.base import (
    ApiShape,
    PositiveCount,
    QueryDocuments,
    RerankCall,
    document_text,
    items,
    model_of,
    total_tokens,
)
from reasonrank.types import RerankResult


class VoyageRequest(QueryDocuments):
    top_k: PositiveCount | None = None
    return_documents: StrictBool = False
    truncation: StrictBool = True


class VoyageRerank(ApiShape):
    """Voyage's rerank shape (``data``, ``top_k``, documents back as plain strings)."""

    name = "voyage"
    paths = ("/v1/rerank",)
    summary = "Rerank documents for a query (Voyage AI rerank shape)"
    request_model = VoyageRequest

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        body: VoyageRequest = call.request
        data = items(result, call, body.top_k, document=document_text if body.return_documents else None)
        return {"object": "list", "data": data, "model": model_of(result),
                "usage": {"total_tokens": total_tokens(result)}}

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return {"detail": message}


__all__ = ["VoyageRequest", "VoyageRerank"]
