"""Dense (bi-encoder) reranking: the similarity of the query's and each passage's embeddings.

The cheap stage of the library's CPU default and of cascades, and the student of
``reasonrank train distill``. The query and every passage are embedded separately (the query
with the model's query prompt, passages with its passage prompt: e5's ``query: ``/``passage: ``,
bge's instruction) and scored with the model's own similarity function (sentence-transformers'
``similarity_fn_name``: cosine unless the model says ``dot``, ``euclidean`` or ``manhattan``).
Passage embeddings go through the engine-reply cache one passage at a time, so a passage seen
by several queries is embedded once. Needs engine ``sentence-transformers`` with a bi-encoder.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from reasonrank.engines.base import EncodeRequest, Encoding
from reasonrank.methods.encoding import EncoderReranker
from reasonrank.types import Query


def similarity(kind: str, a: Sequence[float], b: Sequence[float]) -> float:
    """``a`` against ``b`` as sentence-transformers' ``similarity_fn_name`` ``kind`` defines it
    (distances negated, so higher is always more similar)."""
    if kind == "dot":
        return math.fsum(x * y for x, y in zip(a, b))
    if kind == "euclidean":
        return -math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b)))
    if kind == "manhattan":
        return -math.fsum(abs(x - y) for x, y in zip(a, b))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return math.fsum(x * y for x, y in zip(a, b)) / norm if norm else 0.0


class DenseReranker(EncoderReranker):
    """Bi-encoder reranker (no reasoning): score = similarity of query and passage embeddings."""

    method = "dense"
    needs_kind = "dense"

    def _requests(self, query: Query, passages: list[str]) -> list[EncodeRequest]:
        return [EncodeRequest(query.text, role="query"), *(EncodeRequest(p, role="passage") for p in passages)]

    def _scores(self, replies: list[Encoding], n_passages: int) -> list[float]:
        kind = str(getattr(self.engine, "similarity", "cosine"))
        q = replies[0].vector
        return [similarity(kind, q, r.vector) for r in replies[1:]]
