"""What an HTTP rerank API shape is: its paths, how its request becomes a rerank call, how the
result becomes its response, and its error body. Transport, auth, limits, admission and
metrics are the service's (:mod:`reasonrank.serve.app`), the same for every shape."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from reasonrank.serve.edge import HTTPProblem
from reasonrank.types import RerankResult

M = TypeVar("M", bound=BaseModel)


def finite(x: float) -> float:
    """A score JSON can carry (an infinite or NaN score becomes 0)."""
    return float(x) if math.isfinite(x) else 0.0


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

    @abstractmethod
    def parse(self, data: Any) -> RerankCall:
        """The rerank call of a decoded JSON body; :class:`HTTPProblem` (422) when it is wrong."""

    @abstractmethod
    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        """The JSON response of a finished rerank (candidate ids are document indexes)."""

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


__all__ = ["ApiShape", "RerankCall", "finite"]
