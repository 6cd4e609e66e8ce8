"""Cross-encoder reranking: the model's relevance logit for each (query, passage) pair.

One forward pass per pair over the query and the passage together (the monoBERT shape:
Nogueira & Cho 2019; sentence-transformers ``CrossEncoder`` models such as
cross-encoder/ms-marco-MiniLM-L-6-v2, BAAI/bge-reranker-v2-m3, mixedbread-ai/mxbai-rerank-base-v1).
The score is the raw logit (the model's activation, e.g. a sigmoid, is monotone and left out);
a two-label head scores the log-probability of its last ("relevant") label. Every pair of every
query goes to the engine together, through the engine-reply cache. Needs engine
``sentence-transformers`` with a cross-encoder.
"""
from __future__ import annotations

from reasonrank.engines.base import EncodeRequest, Encoding
from reasonrank.methods.encoding import EncoderReranker
from reasonrank.types import Query


class CrossEncoderReranker(EncoderReranker):
    """Cross-encoder reranker (no reasoning): score = relevance logit of (query, passage)."""

    method = "cross"
    needs_kind = "cross"

    def _requests(self, query: Query, passages: list[str]) -> list[EncodeRequest]:
        return [EncodeRequest(query.text, pair=p) for p in passages]

    def _scores(self, replies: list[Encoding], n_passages: int) -> list[float]:
        return [float(r.score if r.score is not None else float("-inf")) for r in replies]
