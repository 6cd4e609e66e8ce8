"""reasonrank: reasoning rerankers for retrieval-augmented generation.

The core is framework-free: :mod:`reasonrank.types` holds the data model,
:mod:`reasonrank.engines` the LLM backends and :mod:`reasonrank.methods` the
published reranking methods. :class:`reasonrank.RerankerSpec` describes a reranker (method,
preset, engine, model, options) and builds it; :func:`reasonrank.load_reranker` is its keyword
form.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reasonrank.errors import EngineError, ParseError, PromptTooLongError, ReasonRankError
from reasonrank.spec import RerankerSpec
from reasonrank.types import Candidate, Query, RankedCandidate, RerankResult, Usage

__version__ = "0.2.0"

__all__ = [
    "Candidate",
    "EngineError",
    "ParseError",
    "PromptTooLongError",
    "Query",
    "RankedCandidate",
    "ReasonRankError",
    "RerankResult",
    "RerankerSpec",
    "Usage",
    "__version__",
    "load_reranker",
]

if TYPE_CHECKING:  # pragma: no cover
    from reasonrank.methods.base import Reranker


def load_reranker(method: str | None = None, preset: str | None = None, **overrides: Any) -> Reranker:
    """Build a reranker from a preset name (see :mod:`reasonrank.presets`) and overrides: the
    fields of :class:`RerankerSpec` by name, any other keyword a method setting.

    ``load_reranker()`` with no arguments gives the embedded CPU default
    (:data:`reasonrank.presets.DEFAULT_PRESET`, chosen on TREC DL19; see the README).
    """
    from reasonrank.factory import build_reranker

    return build_reranker(method=method, preset=preset, **overrides)
