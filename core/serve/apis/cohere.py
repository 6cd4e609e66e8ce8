"""The Cohere v2 rerank API shape, on ``/v2/rerank`` and ``/v1/rerank``.

Cohere v2 (https://docs.cohere.com/reference/rerank): ``{"model", "query", "documents": [str],
"top_n"?, "max_tokens_per_doc"?}`` -> ``{"id", "results": [{"index", "relevance_score"}],
"meta": {"api_version", "billed_units", "tokens", "warnings"}}``. Accepted on top, as the v1 API
and the Jina/vLLM rerank APIs do: documents as objects (``{"text", "title"?, ...}``) and
``return_documents``. What a reasoning reranker adds comes back in ``reasonrank`` (ignored by
clients that do not know it; the Cohere SDK keeps unknown fields). Errors: ``{"message"}``
(plus the request id), as Cohere answers.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool
from reasonrank.serve.apis.base import (
    ApiShape,
    PositiveCount,
    QueryDocuments,
    RerankCall,
    WholeNumber,
    finite,
    index_of,
    top,
)
from reasonrank.types import RerankResult


class RerankRequest(QueryDocuments):
    """The body of a rerank call (unknown fields are accepted and ignored, as Cohere does)."""

    top_n: PositiveCount | None = None
    return_documents: StrictBool = False
    max_tokens_per_doc: PositiveCount | None = None
    priority: WholeNumber | None = None


class ResultItem(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None
    reasoning: str | None = None  # the model's reasoning about this document, where it has one


class ApiVersion(BaseModel):
    version: str = "2"


class BilledUnits(BaseModel):
    search_units: float = 1


class Tokens(BaseModel):
    input_tokens: float = 0
    output_tokens: float = 0


class Meta(BaseModel):
    api_version: ApiVersion = Field(default_factory=ApiVersion)
    billed_units: BilledUnits = Field(default_factory=BilledUnits)
    tokens: Tokens = Field(default_factory=Tokens)
    warnings: list[str] = Field(default_factory=list)


class ReasoningInfo(BaseModel):
    """What the reranker said and what it cost (the field Cohere clients ignore)."""

    method: str
    model: str | None
    reasoning: str
    warnings: list[str]
    engine_calls: int
    seconds: float
    kept_input_order: bool = False


class RerankResponse(BaseModel):
    id: str
    results: list[ResultItem]
    meta: Meta
    reasonrank: ReasoningInfo


def kept_input_order(result: RerankResult) -> bool:
    """Whether any window or query fell back to the input order."""
    usage = result.usage
    return bool(usage.fallbacks or usage.engine_fallbacks) or any("kept" in w for w in result.warnings)


def to_response(result: RerankResult, body: RerankRequest, rid: str) -> RerankResponse:
    """Cohere v2 response: ranked ``results`` (top_n of them), ``meta``, and ``reasonrank``."""
    items = []
    for r in top(result, body.top_n):
        index = index_of(r)
        doc = body.documents[index]
        items.append(ResultItem(
            index=index,
            relevance_score=finite(r.score),
            document=({"text": doc} if isinstance(doc, str) else dict(doc)) if body.return_documents else None,
            reasoning=r.reasoning,
        ))
    usage = result.usage
    return RerankResponse(
        id=rid,
        results=items,
        meta=Meta(tokens=Tokens(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
                  warnings=list(result.warnings)),
        reasonrank=ReasoningInfo(
            method=result.method, model=result.model, reasoning=result.reasoning, warnings=list(result.warnings),
            engine_calls=usage.engine_calls, seconds=round(result.seconds, 4),
            kept_input_order=kept_input_order(result),
        ),
    )


class CohereV2(ApiShape):
    """Cohere's v2 rerank shape, also served on the v1 path (v1 clients read the same fields)."""

    name = "cohere"
    paths = ("/v2/rerank", "/v1/rerank")
    summary = "Rerank documents for a query (Cohere v2 rerank shape)"
    request_model = RerankRequest

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        return to_response(result, call.request, request_id).model_dump(exclude_none=True)


__all__ = ["CohereV2", "RerankRequest", "RerankResponse", "to_response"]
