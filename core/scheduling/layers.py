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

from reasonrank.engines.base import Engine

EngineLayer = Callable[[Engine], Engine]


def compose(engine: Engine, *layers: EngineLayer) -> Engine:
    """``engine`` wrapped by each layer in turn (the first layer is the innermost)."""
    for layer in layers:
        engine = layer(engine)
        if not isinstance(engine, Engine):
            raise TypeError(f"engine layer {layer!r} returned {type(engine).__name__}, not an Engine")
    return engine
