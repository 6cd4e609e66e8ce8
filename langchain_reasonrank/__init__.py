"""LangChain integration: :class:`ReasonRankCompressor`, a document compressor (reranker) for
``ContextualCompressionRetriever``. Needs the ``langchain`` extra."""
from __future__ import annotations

from langchain_reasonrank.compressor import (
    CRITERIA_KEY,
    METHOD_KEY,
    RANK_KEY,
    REASONING_KEY,
    SCORE_KEY,
    ReasonRankCompressor,
)

__all__ = ["CRITERIA_KEY", "METHOD_KEY", "RANK_KEY", "REASONING_KEY", "SCORE_KEY", "ReasonRankCompressor"]
