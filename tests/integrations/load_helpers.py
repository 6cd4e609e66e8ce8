"""Helpers of the load tests: concurrent async reranks through the Haystack and LlamaIndex
wrappers sharing one reranker, and what memory a further round keeps."""
from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Sequence
from typing import Any

from haystack import Document
from llama_index.core.schema import NodeWithScore, TextNode
from reasonrank.methods.base import Reranker

from haystack_reasonrank import ReasonRankRanker
from llama_index_reasonrank import ReasonRankRerank


class BothWrappers:
    """A Haystack ranker (warmed up) and a LlamaIndex postprocessor over one shared reranker, each
    given ``texts`` as its documents (ids ``{doc_prefix}{i}`` and ``n{i}``) and returning them all."""

    def __init__(self, reranker: Reranker, texts: Sequence[str], *, doc_prefix: str = "d") -> None:
        self.ranker = ReasonRankRanker(reranker=reranker, top_k=len(texts))
        self.ranker.warm_up()
        self.post = ReasonRankRerank(reranker=reranker, top_n=len(texts))
        self.docs = [Document(id=f"{doc_prefix}{i}", content=t) for i, t in enumerate(texts)]
        self.nodes = [NodeWithScore(node=TextNode(id_=f"n{i}", text=t), score=1.0) for i, t in enumerate(texts)]

    def round(self, n: int, hay_query: str = "q{}", lli_query: str = "q{}") -> tuple[list[Any], list[Any]]:
        """``n`` concurrent reranks, half through each wrapper; the ``i``-th query of each is its
        template formatted with ``i``. Returns the Haystack outputs and the LlamaIndex node lists."""
        async def both() -> tuple[list[Any], list[Any]]:
            hay = asyncio.gather(*(self.ranker.run_async(query=hay_query.format(i), documents=self.docs)
                                   for i in range(n // 2)))
            lli = asyncio.gather(*(self.post.apostprocess_nodes(self.nodes, query_str=lli_query.format(i))
                                   for i in range(n // 2)))
            return await asyncio.gather(hay, lli)

        return asyncio.run(both())

    def growth(self, n: int, hay_query: str = "q{}", lli_query: str = "q{}") -> int:
        """Bytes that a second :meth:`round` keeps allocated beyond the first (traced by
        tracemalloc from the first's start): near 0 when nothing grows per call."""
        tracemalloc.start()
        try:
            self.round(n, hay_query, lli_query)
            first, _ = tracemalloc.get_traced_memory()
            self.round(n, hay_query, lli_query)
            second, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return second - first
