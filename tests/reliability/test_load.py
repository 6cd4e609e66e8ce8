"""Load: 200 concurrent async reranks through the Haystack and LlamaIndex wrappers against a
local server; all complete, the server never sees more than the configured concurrency, and
memory stays flat across rounds."""
from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

pytest.importorskip("haystack")
pytest.importorskip("llama_index.core")

from haystack import Document
from llama_index.core.schema import NodeWithScore, TextNode
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.testing.servers.fault_server import fault_server

from haystack_reasonrank import ReasonRankRanker
from llama_index_reasonrank import ReasonRankRerank

LIMIT = 8
N = 200


def shared_reranker(url: str) -> ListwiseReranker:
    engine = OpenAIEngine("m", base_url=url, max_concurrency=LIMIT, max_retries=0, timeout=30)
    engine._tokenize = lambda text: text.split()  # type: ignore[method-assign]
    engine.truncate_tokens = lambda text, n: " ".join(text.split()[:n])  # type: ignore[method-assign]
    return ListwiseReranker(engine)


def test_200_concurrent_haystack_and_llamaindex_reranks() -> None:
    docs = [Document(id=f"d{i}", content=f"passage {i}") for i in range(6)]
    nodes = [NodeWithScore(node=TextNode(id_=f"n{i}", text=f"passage {i}"), score=1.0) for i in range(6)]
    with fault_server("ok", delay=0.02) as (url, state):
        reranker = shared_reranker(url)
        ranker = ReasonRankRanker(reranker=reranker, top_k=6)
        ranker.warm_up()
        post = ReasonRankRerank(reranker=reranker, top_n=6)

        async def one_round() -> tuple[list, list]:
            hay = asyncio.gather(*(ranker.run_async(query=f"q{i}", documents=docs) for i in range(N // 2)))
            lli = asyncio.gather(*(post.apostprocess_nodes(nodes, query_str=f"q{i}") for i in range(N // 2)))
            return await asyncio.gather(hay, lli)

        start = time.monotonic()
        hay, lli = asyncio.run(one_round())
        elapsed = time.monotonic() - start
        tracemalloc.start()
        asyncio.run(one_round())
        first, _ = tracemalloc.get_traced_memory()
        asyncio.run(one_round())
        second, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert len(hay) == N // 2 and len(lli) == N // 2
    assert all([d.id for d in out["documents"]] == [f"d{i}" for i in range(5, -1, -1)] for out in hay)
    assert all([n.node.node_id for n in out] == [f"n{i}" for i in range(5, -1, -1)] for out in lli)
    assert state.requests == 3 * N
    assert state.max_in_flight <= LIMIT
    assert elapsed < 60
    # A third round allocates no more than a small bound beyond the second (no growth per call).
    assert second - first < 5 * 1024 * 1024
