"""One path, one documented rule, whatever shapes share it.

Rule, for a request to a path that several shapes serve:

1. **Claim by field**: a shape with a ``claim_field`` (a field only its clients send, checked
   in registration order: TEI's ``texts`` before Infinity's ``raw_scores``, which TEI sends too; e.g.
   TEI's ``texts``) answers alone, in its own shape, when the request has that field.
2. **Superset** otherwise: every other shape of the path parses the request; those that accept
   it answer together, their JSON objects merged into one (shared keys merged recursively, the
   first registered shape winning where two disagree), so that each client finds its own
   fields (Cohere's ``id``/``meta`` beside Jina's ``model``/``usage`` and Voyage's ``data``).
   When none accepts it, the first shape's error answers.

Errors met before the body is read (auth, size, JSON) are the superset shapes' error bodies,
merged the same way.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reasonrank.serve.apis.base import ApiShape, RerankCall
from reasonrank.serve.edge import HTTPProblem
from reasonrank.types import RerankResult


def merge(first: Any, second: Any) -> Any:
    """``first`` with what ``second`` adds: objects key by key, lists of equal length item by
    item; where both hold a different value, ``first``'s."""
    if isinstance(first, dict) and isinstance(second, dict):
        out = dict(first)
        for key, value in second.items():
            out[key] = merge(out[key], value) if key in out else value
        return out
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        return [merge(a, b) for a, b in zip(first, second)]
    return first


def merged(values: Sequence[Any]) -> Any:
    """The merge of ``values``, first to last."""
    out = values[0]
    for value in values[1:]:
        out = merge(out, value)
    return out


class Selection:
    """The shapes answering one request, with each one's parsed call."""

    def __init__(self, picks: list[tuple[ApiShape, RerankCall]]) -> None:
        self.picks = picks

    @property
    def call(self) -> RerankCall:
        """The call the service runs (every answering shape reads the same query and documents)."""
        return self.picks[0][1]

    @property
    def documents_field(self) -> str:
        return self.picks[0][0].documents_field

    def respond(self, result: RerankResult, request_id: str) -> Any:
        return merged([api.respond(result, call, request_id) for api, call in self.picks])

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        return merged([api.error_body(status, message, request_id) for api, _ in self.picks])


class PathRoute:
    """The shapes registered on one path (in registration order) and the rule between them."""

    def __init__(self, path: str, shapes: Sequence[ApiShape]) -> None:
        self.path = path
        self.shapes = list(shapes)
        self.claiming = [s for s in self.shapes if s.claim_field]
        self.superset = [s for s in self.shapes if not s.claim_field] or self.shapes[:1]

    @property
    def summary(self) -> str:
        if len(self.shapes) == 1:
            return self.shapes[0].summary
        return "Rerank documents for a query (" + ", ".join(s.name for s in self.shapes) + " shapes)"

    def error_body(self, status: int, message: str, request_id: str) -> Any:
        """The error body before the answering shapes are known."""
        return merged([s.error_body(status, message, request_id) for s in self.superset])

    def select(self, data: Any) -> Selection:
        """The shapes that answer ``data`` (see the module's rule); 422 when none accepts it."""
        if isinstance(data, dict):
            for shape in self.claiming:
                if shape.claim_field in data:
                    return self._accepting([shape], data)
        return self._accepting(self.superset, data)

    @staticmethod
    def _accepting(shapes: list[ApiShape], data: Any) -> Selection:
        picks: list[tuple[ApiShape, RerankCall]] = []
        first_error: tuple[ApiShape, HTTPProblem] | None = None
        for shape in shapes:
            try:
                picks.append((shape, shape.parse(data)))
            except HTTPProblem as exc:
                first_error = first_error or (shape, exc)
        if picks:
            return Selection(picks)
        assert first_error is not None
        raise RouteProblem(Selection([(first_error[0], RerankCall("", []))]), first_error[1])


class RouteProblem(Exception):
    """A request no shape of the path accepts: the error, and whose body answers it."""

    def __init__(self, selection: Selection, problem: HTTPProblem) -> None:
        super().__init__(problem.message)
        self.selection = selection
        self.problem = problem


__all__ = ["PathRoute", "RouteProblem", "Selection", "merge"]
