"""Reranking methods, one module each: ``listwise`` (ReasonRank), ``pointwise`` (Rank1, ERank),
``multicriteria`` (REBEL), ``setwise`` (Rank-R1), ``icr`` (attention), ``first`` (single-token
listwise) and ``relevance`` (pointwise answer logits, no reasoning). ``fusion`` mixes any of
them with the first stage."""
from __future__ import annotations

from reasonrank.methods.base import Reranker
from reasonrank.registry import load_registered

METHODS: dict[str, str] = {
    "listwise": "reasonrank.methods.listwise:ListwiseReranker",
    "pointwise": "reasonrank.methods.pointwise:PointwiseReranker",
    "rebel": "reasonrank.methods.multicriteria:RebelReranker",
    "setwise": "reasonrank.methods.setwise:SetwiseReranker",
    "icr": "reasonrank.methods.icr:ICRReranker",
    "first": "reasonrank.methods.first:FirstReranker",
    "relevance": "reasonrank.methods.relevance:RelevanceReranker",
}


def method_class(name: str) -> type[Reranker]:
    """The reranker class for a method name."""
    cls: type[Reranker] = load_registered(METHODS, name, "method")
    return cls


__all__ = ["METHODS", "Reranker", "method_class"]
