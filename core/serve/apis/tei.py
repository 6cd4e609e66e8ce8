"""The Hugging Face Text Embeddings Inference (TEI) rerank shape, on ``/rerank``.

Reference: TEI's ``POST /rerank`` (https://huggingface.github.io/text-embeddings-inference/,
``RerankRequest``/``Rank``), as Haystack's ``HuggingFaceTEIRanker`` and LiteLLM's
``huggingface/`` provider call it. On the shared ``/rerank`` path a request with ``texts`` (a
field only TEI sends) is TEI's alone.

``{"query", "texts": [str], "return_text"?, "raw_scores"?, "truncate"?, ...}`` -> a JSON array
``[{"index", "score", "text"?}]``, best first; errors ``{"error", "error_type"}``. Spoken by
Haystack's ``HuggingFaceTEIRanker`` and LiteLLM's ``huggingface/`` rerank provider. TEI's
truncation settings are accepted and ignored: reasonrank truncates passages by its own budget.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr
from reasonrank.serve.apis.base import ApiShape, RerankCall, items
from reasonrank.types import RerankResult


class TEIRequest(BaseModel):
    """TEI's rerank body (truncation fields accepted and ignored)."""

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
    claim_field = "texts"
    response_type = "array"
    request_model = TEIRequest

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        return items(result, call, None, score="score", document=str if call.request.return_text else None,
                     document_key="text")

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return {"error": message, "error_type": _error_type(status)}


__all__ = ["TEIRerank"]
