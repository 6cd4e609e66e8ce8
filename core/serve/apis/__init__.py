"""The HTTP rerank API shapes ``reasonrank serve`` speaks, one module each.

A new shape is one module with an :class:`ApiShape` subclass plus one line in
:data:`API_SHAPES`; :func:`reasonrank.serve.create_app` mounts every registered shape.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable

from reasonrank.serve.apis.base import ApiShape, RerankCall

# name -> "module:class". Paths must not overlap (create_app checks).
API_SHAPES: dict[str, str] = {
    "cohere": "reasonrank.serve.apis.cohere:CohereV2",
    "tei": "reasonrank.serve.apis.tei:TEIRerank",
}


def load_api(name: str) -> ApiShape:
    """An instance of the registered shape ``name``."""
    try:
        target = API_SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown API shape {name!r}; choose from {sorted(API_SHAPES)}") from None
    module_name, _, cls_name = target.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)()


def load_apis(names: Iterable[str] | None = None) -> list[ApiShape]:
    """The shapes ``names`` (default: every registered one), checked for overlapping paths."""
    apis = [load_api(n) for n in (API_SHAPES if names is None else names)]
    owner: dict[str, str] = {}
    for api in apis:
        for path in api.paths:
            if path in owner:
                raise ValueError(f"API shapes {owner[path]!r} and {api.name!r} both claim {path}")
            owner[path] = api.name
    return apis


__all__ = ["API_SHAPES", "ApiShape", "RerankCall", "load_api", "load_apis"]
