"""Request and response bodies of ``POST /v2/rerank``: the Cohere v2 rerank API shape.

Cohere v2 (https://docs.cohere.com/reference/rerank): ``{"model", "query", "documents": [str],
"top_n"?, "max_tokens_per_doc"?}`` -> ``{"id", "results": [{"index", "relevance_score"}],
"meta": {"api_version", "billed_units", "tokens", "warnings"}}``. Accepted on top, as the v1 API
and the Jina/vLLM rerank APIs do: documents as objects (``{"text", "title"?, ...}``) and
``return_documents``. What a reasoning reranker adds comes back in ``reasonrank`` (ignored by
clients that do not know it; the Cohere SDK keeps unknown fields).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Document = StrictStr | dict[str, Any]


class RerankRequest(BaseModel):
    """The body of a rerank call (unknown fields are accepted and ignored, as Cohere does)."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    documents: list[Document]
    model: StrictStr | None = None
    top_n: StrictInt | None = Field(default=None, ge=1)
    return_documents: StrictBool = False
    max_tokens_per_doc: StrictInt | None = Field(default=None, ge=1)
    priority: StrictInt | None = None


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


class ErrorBody(BaseModel):
    """Every error: ``{"message": ...}`` like Cohere's, plus the request id for the logs."""

    message: str
    request_id: str | None = None
