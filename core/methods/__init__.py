"""Reranking methods, one module each: ``listwise`` (ReasonRank), ``pointwise`` (Rank1, ERank),
``multicriteria`` (REBEL), ``setwise`` (Rank-R1), ``icr`` (attention), ``first`` (single-token
listwise), ``relevance`` (pointwise answer logits, no reasoning), and the cheap encoder stages
``dense`` (bi-encoder similarity) and ``cross`` (cross-encoder logit). ``fusion`` mixes any of
them with the first stage; ``cascade`` chains them."""
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
    "dense": "reasonrank.methods.dense:DenseReranker",
    "cross": "reasonrank.methods.cross:CrossEncoderReranker",
}
#: Methods made of other methods' rerankers, built from a spec's stages (``cascade_spec``), not
#: from one engine: a spec or the CLI names them, ``method_class`` does not build them.
COMPOSITE_METHODS = ("cascade",)


def method_names() -> list[str]:
    """Every method a spec or the CLI may name."""
    return sorted([*METHODS, *COMPOSITE_METHODS])


def method_class(name: str) -> type[Reranker]:
    """The reranker class for a method name."""
    cls: type[Reranker] = load_registered(METHODS, name, "method")
    return cls


__all__ = ["COMPOSITE_METHODS", "METHODS", "Reranker", "method_class", "method_names"]
