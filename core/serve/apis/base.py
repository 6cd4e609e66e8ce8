"""What an HTTP rerank API shape is: its paths, how its request becomes a rerank call, how the
result becomes its response, and its error body. Transport, auth, limits, admission and
metrics are the service's (:mod:`reasonrank.serve.app`), the same for every shape.

Several shapes may share a path (TEI, Infinity and vLLM all ``POST /rerank``); how a shared
path answers is :mod:`reasonrank.serve.apis.route`'s rule. The helpers below are what the
shapes have in common (documents as text, the top of the ranking, token totals, an
OpenAI-style error), so that each shape module only names its own fields.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictStr,
    ValidationError,
    field_validator,
)
from reasonrank.serve.edge import HTTPProblem
from reasonrank.types import RankedCandidate, RerankResult

M = TypeVar("M", bound=BaseModel)


def finite(x: float) -> float:
    """A score JSON can carry (an infinite or NaN score becomes 0)."""
    return float(x) if math.isfinite(x) else 0.0


def document_text(doc: Any) -> str:
    """A document as sent (a string, or an object with ``text``) as its text."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("text"), str):
        return doc["text"]
    return "\n".join(f"{k}: {v}" for k, v in dict(doc).items())


def top(result: RerankResult, n: int | None) -> list[RankedCandidate]:
    """The best ``n`` of the ranking (all of it when ``n`` is None or 0), each index once."""
    return result.ranked[:n] if n else list(result.ranked)


def items(result: RerankResult, call: RerankCall, n: int | None, *, score: str = "relevance_score",
          document: Callable[[Any], Any] | None = None, document_key: str = "document") -> list[dict[str, Any]]:
    """The best ``n`` results as ``{"index", <score>}`` objects, each with the document written
    by ``document`` (under ``document_key``) when it is given: the result list every shape
    writes, in its own names."""
    out = []
    for r in top(result, n):
        item: dict[str, Any] = {"index": index_of(r), score: finite(r.score)}
        if document is not None:
            item[document_key] = document(call.documents[index_of(r)])
        out.append(item)
    return out


def index_of(ranked: RankedCandidate) -> int:
    """The document index a ranked candidate answers for (candidate ids are positions)."""
    return int(ranked.candidate.id)


def model_of(result: RerankResult) -> str:
    """The ``model`` the OpenAI-style shapes answer with (the engine's model name)."""
    return result.model or "reasonrank"


def total_tokens(result: RerankResult) -> int:
    """Every token the rerank cost (prompt and generated), for ``usage.total_tokens``."""
    return int(result.usage.prompt_tokens + result.usage.completion_tokens)


def usage(result: RerankResult) -> dict[str, int]:
    """``{"prompt_tokens", "total_tokens"}``, the usage object of the OpenAI-style servers."""
    return {"prompt_tokens": int(result.usage.prompt_tokens), "total_tokens": total_tokens(result)}


def openai_error(status: int, message: str) -> dict[str, Any]:
    """The OpenAI-style error object vLLM and Infinity answer with:
    ``{"error": {"message", "type", "param", "code"}}``."""
    kind = {400: "BadRequestError", 401: "AuthenticationError", 413: "BadRequestError",
            422: "BadRequestError", 429: "RateLimitError"}.get(status, "InternalServerError")
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def _whole(value: Any) -> Any:
    """A JSON number with no fraction (``3.0``) as the integer it is (JSON Schema's integer)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Integer fields: strict (no strings, no booleans), but 3.0 is 3, as JSON Schema has it. (The
# bound must come before the BeforeValidator for pydantic to write it as a JSON Schema minimum.)
WholeNumber = Annotated[int, Strict(), BeforeValidator(_whole)]
Count = Annotated[int, Strict(), Field(ge=0), BeforeValidator(_whole)]
PositiveCount = Annotated[int, Strict(), Field(ge=1), BeforeValidator(_whole)]


def _lines_document(doc: Any) -> bool:
    """Whether ``doc`` is an object without text that reads as ``key: value`` lines: every
    field a string, number or boolean, and one besides the title."""
    return (all(isinstance(v, (str, int, float)) for v in doc.values())
            and any(k != "title" for k in doc))


class QueryDocuments(BaseModel):
    """The request fields every rerank API shares: ``query``, ``documents`` (strings, objects
    with a ``text``, or objects of scalar fields read as ``key: value`` lines) and an optional
    ``model`` (one model per process: accepted, not checked). Unknown fields are accepted and
    ignored, as the hosted APIs do."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    documents: list[StrictStr | dict[str, Any]]
    model: StrictStr | None = None

    @field_validator("documents")
    @classmethod
    def _text_or_scalar_fields(cls, docs: list[Any]) -> list[Any]:
        # What the OpenAPI document promises (serve/openapi.py DOCUMENT_OBJECT), checked here.
        for i, doc in enumerate(docs):
            if isinstance(doc, dict) and "text" not in doc and not _lines_document(doc):
                raise ValueError(f"document {i}: an object needs a 'text' string, or only "
                                     "string/number/boolean fields besides 'title'")
        return docs


@dataclass
class RerankCall:
    """One request as the service runs it: the query, the documents as sent (their index is
    their id), and the shape's validated request (what its response needs: top_n...)."""

    query: str
    documents: Sequence[Any]
    request: Any = None


class ApiShape(ABC):
    """One rerank API shape (Cohere v2, TEI...). Subclass it in one module under
    :mod:`reasonrank.serve.apis` and add one line to ``API_SHAPES`` there."""

    name: ClassVar[str]
    paths: ClassVar[tuple[str, ...]]
    summary: ClassVar[str] = "Rerank documents for a query"
    documents_field: ClassVar[str] = "documents"  # how the shape names its documents, in errors
    # A request field only this shape's clients send: on a path it shares, a request with this
    # field is this shape's alone (TEI's "texts"). None: the shape answers in the path's superset.
    claim_field: ClassVar[str | None] = None
    request_model: ClassVar[type[BaseModel] | None] = None  # its request body, for OpenAPI
    response_type: ClassVar[str] = "object"  # the JSON type of its answer (TEI: "array")

    def parse(self, data: Any) -> RerankCall:
        """The rerank call of a decoded JSON body; :class:`HTTPProblem` (422) when it is wrong.
        By default: ``data`` validated as :attr:`request_model`, whose ``query`` and
        :attr:`documents_field` are the call's."""
        assert self.request_model is not None, f"{type(self).__name__} needs a request_model or its own parse"
        body = self.validate(self.request_model, data)
        query = getattr(body, "query")  # noqa: B009 - any request model with a query (TEI is no QueryDocuments)
        return RerankCall(query=query, documents=getattr(body, self.documents_field), request=body)

    @abstractmethod
    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        """The JSON response of a finished rerank (candidate ids are document indexes)."""

    def adjust_request_schema(self, schema: dict[str, Any], max_documents: int) -> dict[str, Any]:
        """The request's JSON schema (from :attr:`request_model`, query and documents already
        constrained) with what the shape's own parse checks beyond the model (default: as is)."""
        return schema

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        """The JSON body of an error answer (default: Cohere's ``{"message"}`` plus the id)."""
        return {"message": message, "request_id": request_id}

    def validate(self, model: type[M], data: Any) -> M:
        """``data`` as the shape's pydantic request model; 422 naming the wrong fields."""
        if not isinstance(data, dict):
            raise HTTPProblem(422, f"body must be a JSON object with 'query' and '{self.documents_field}'")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise HTTPProblem(422, "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )) from None


__all__ = [
    "ApiShape",
    "Count",
    "PositiveCount",
    "QueryDocuments",
    "RerankCall",
    "WholeNumber",
    "document_text",
    "finite",
    "index_of",
    "items", "model_of",
    "openai_error",
    "top",
    "total_tokens",
    "usage",
]
