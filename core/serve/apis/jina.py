"""The Jina / vLLM rerank shape, on ``/rerank``, ``/v1/rerank`` and ``/v2/rerank``.

Reference: vLLM's own server (``vllm/entrypoints/pooling/scoring``: ``api_router.py`` mounts
``RerankRequest`` at all three paths; ``protocol.py``), which follows Jina's rerank API
(https://jina.ai/reranker, ``POST /v1/rerank``). Request ``{"model"?, "query", "documents":
[str | {"text"}], "top_n"? (0 = all), "return_documents"?, "truncate_prompt_tokens"?, ...}``
-> ``{"id", "model", "usage": {"prompt_tokens", "total_tokens"}, "results": [{"index",
"relevance_score", "document": {"text"}}]}``. vLLM always returns the document; Jina returns it
unless ``return_documents`` is false, and so do we. Errors: vLLM's ``{"error": {"message",
"type", "param", "code"}}`` with Jina's ``{"detail"}`` beside it. Truncation fields are accepted
and ignored (passages are cut by the method's own token budget).
"""
from __future__ import annotations

from typing import Any

from pydantic import StrictBool
from reasonrank.serve.apis.base import (
    ApiShape,
    Count,
    QueryDocuments,
    RerankCall,
    document_text,
    items,
    model_of,
    openai_error,
    usage,
)
from reasonrank.types import RerankResult


class JinaRequest(QueryDocuments):
    top_n: Count | None = None
    return_documents: StrictBool = True


class JinaRerank(ApiShape):
    """Jina's and vLLM's rerank shape."""

    name = "jina"
    paths = ("/rerank", "/v1/rerank", "/v2/rerank")
    summary = "Rerank documents for a query (Jina / vLLM rerank shape)"
    request_model = JinaRequest

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        body: JinaRequest = call.request
        as_object = (lambda doc: {"text": document_text(doc)}) if body.return_documents else None
        return {"id": request_id, "model": model_of(result), "usage": usage(result),
                "results": items(result, call, body.top_n, document=as_object)}

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return {**openai_error(status, message), "detail": message}


__all__ = ["JinaRequest", "JinaRerank"]
