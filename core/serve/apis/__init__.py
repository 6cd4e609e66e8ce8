"""The HTTP rerank API shapes ``reasonrank serve`` speaks, one module each.

A new shape is one module with an :class:`ApiShape` subclass plus one line in
:data:`API_SHAPES`; :func:`reasonrank.serve.create_app` mounts every registered shape. Shapes
may share a path: :mod:`reasonrank.serve.apis.route` is the one rule a shared path follows
(claim by a field only one API sends, else a superset answer). Registration order is the
precedence inside a superset, and the order claims are checked in.
"""
from __future__ import annotations

from collections.abc import Iterable

from reasonrank.registry import load_registered
from reasonrank.serve.apis.base import ApiShape, RerankCall
from reasonrank.serve.apis.route import PathRoute

# name -> "module:class", in precedence order (the first shape wins where a superset disagrees).
API_SHAPES: dict[str, str] = {
    "cohere": "reasonrank.serve.apis.cohere:CohereV2",
    "jina": "reasonrank.serve.apis.jina:JinaRerank",
    "voyage": "reasonrank.serve.apis.voyage:VoyageRerank",
    "tei": "reasonrank.serve.apis.tei:TEIRerank",  # before Infinity: TEI clients send raw_scores too
    "infinity": "reasonrank.serve.apis.infinity:InfinityRerank",
    "vllm-score": "reasonrank.serve.apis.vllm_score:VLLMScore",
}


def load_api(name: str) -> ApiShape:
    """An instance of the registered shape ``name``."""
    shape: ApiShape = load_registered(API_SHAPES, name, "API shape")()
    return shape


def load_apis(names: Iterable[str] | None = None) -> list[ApiShape]:
    """The shapes ``names`` (default: every registered one), in registration order."""
    wanted = list(API_SHAPES if names is None else names)
    apis = [load_api(n) for n in wanted]
    return sorted(apis, key=lambda a: list(API_SHAPES).index(a.name) if a.name in API_SHAPES else len(API_SHAPES))


def load_routes(names: Iterable[str] | None = None) -> list[PathRoute]:
    """One :class:`PathRoute` per path of the shapes ``names``; two shapes that claim a shared
    path by the same field are refused (a request could not say which it is)."""
    by_path: dict[str, list[ApiShape]] = {}
    for api in load_apis(names):
        for path in api.paths:
            by_path.setdefault(path, []).append(api)
    for path, shapes in by_path.items():
        fields = [s.claim_field for s in shapes if s.claim_field]
        if len(fields) != len(set(fields)):
            raise ValueError(f"API shapes on {path} claim requests by the same field: "
                             f"{[s.name for s in shapes]}")
    return [PathRoute(path, shapes) for path, shapes in by_path.items()]


__all__ = ["API_SHAPES", "ApiShape", "PathRoute", "RerankCall", "load_api", "load_apis", "load_routes"]
