"""The Hugging Face Text Embeddings Inference (TEI) rerank shape, on ``/rerank``.

``{"query", "texts": [str], "return_text"?, "raw_scores"?, "truncate"?, ...}`` -> a JSON array
``[{"index", "score", "text"?}]``, best first; errors ``{"error", "error_type"}``. Spoken by
Haystack's ``HuggingFaceTEIRanker`` and LiteLLM's ``huggingface/`` rerank provider. TEI's
truncation settings are accepted and ignored: reasonrank truncates passages by its own budget.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr
from reasonrank.serve.apis.base import ApiShape, RerankCall, finite
from reasonrank.types import RerankResult


class TEIRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    texts: list[StrictStr]
    return_text: StrictBool = False
    raw_scores: StrictBool = False


def _error_type(status: int) -> str:
    if status == 429:
        return "Overloaded"
    if status in (401, 403):
        return "Unauthorized"
    return "Backend" if status >= 500 else "Validation"


class TEIRerank(ApiShape):
    """TEI's ``POST /rerank``."""

    name = "tei"
    paths = ("/rerank",)
    summary = "Rerank texts for a query (Text Embeddings Inference shape)"
    documents_field = "texts"

    def parse(self, data: Any) -> RerankCall:
        body = self.validate(TEIRequest, data)
        return RerankCall(query=body.query, documents=body.texts, request=body)

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        out = []
        for r in result.ranked:
            item: dict[str, Any] = {"index": int(r.candidate.id), "score": finite(r.score)}
            if call.request.return_text:
                item["text"] = call.documents[int(r.candidate.id)]
            out.append(item)
        return out

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return {"error": message, "error_type": _error_type(status)}


__all__ = ["TEIRerank"]
