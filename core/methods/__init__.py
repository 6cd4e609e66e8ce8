"""Reranking methods, one module each: ``listwise`` (ReasonRank), ``pointwise`` (Rank1, ERank),
``multicriteria`` (REBEL), ``setwise`` (Rank-R1), ``icr`` (attention), ``first`` (single-token
listwise) and ``relevance`` (pointwise answer logits, no reasoning). ``fusion`` mixes any of
them with the first stage."""
from __future__ import annotations

import importlib

from reasonrank.methods.base import Reranker

METHODS: dict[str, str] = {
    "listwise": "reasonrank.methods.listwise:ListwiseReranker",
    "pointwise": "reasonrank.methods.pointwise:PointwiseReranker",
    "rebel": "reasonrank.methods.multicriteria:RebelReranker",
    "setwise": "reasonrank.methods.setwise:SetwiseReranker",
    "icr": "reasonrank.methods.icr:ICRReranker",
    "first": "reasonrank.methods.first:FirstReranker",
    "relevance": "reasonrank.methods.relevance:RelevanceReranker",
    "cascade": "reasonrank.methods.cascade:CascadeReranker",  # built from stage specs (cascade_spec)
}


def method_class(name: str) -> type[Reranker]:
    """The reranker class for a method name."""
    try:
        target = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}") from None
    module_name, _, cls_name = target.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


__all__ = ["METHODS", "Reranker", "method_class"]
