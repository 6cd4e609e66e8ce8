"""Engine layers: what wraps the engine when a reranker is built (sharing, metering, a cache).

A layer is any ``Callable[[Engine], Engine]`` that returns an engine delegating to the one it
wraps: :class:`~reasonrank.scheduling.SharedEngine` (one engine for concurrent callers),
``reasonrank.evaluate.EngineMeter`` (engine time and tokens). Compose them before the reranker
is constructed, never by replacing ``reranker.engine`` afterwards::

    engine = compose(build_engine(...), SharedEngine, EngineMeter)
    reranker = ListwiseReranker(engine)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reasonrank.engines.base import Engine

EngineLayer = Callable[[Engine], Engine]
L = TypeVar("L")


def find_layer(engine: Engine, kind: type[L]) -> L | None:
    """The layer of type ``kind`` in ``engine``'s stack (each layer keeps what it wraps as
    ``.inner``), or None."""
    current: object = engine
    for _ in range(32):  # a stack is a few layers deep; the bound guards against a cycle
        if isinstance(current, kind):
            return current
        current = getattr(current, "__dict__", {}).get("inner")
        if current is None:
            return None
    return None


def compose(engine: Engine, *layers: EngineLayer) -> Engine:
    """``engine`` wrapped by each layer in turn (the first layer is the innermost)."""
    for layer in layers:
        engine = layer(engine)
        if not isinstance(engine, Engine):
            raise TypeError(f"engine layer {layer!r} returned {type(engine).__name__}, not an Engine")
    return engine


__all__ = ["EngineLayer", "compose", "find_layer"]
