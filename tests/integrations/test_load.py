"""Load: 200 concurrent async reranks through the Haystack and LlamaIndex wrappers against a
local server; all complete, the server never sees more than the configured concurrency, and
memory stays flat across rounds."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("haystack")
pytest.importorskip("llama_index.core")

from load_helpers import BothWrappers
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.testing.servers.fault_server import fault_server

pytestmark = pytest.mark.load

LIMIT = 8
N = 200


def shared_reranker(url: str) -> ListwiseReranker:
    engine = OpenAIEngine("m", base_url=url, max_concurrency=LIMIT, max_retries=0, timeout=30)
    engine._tokenize = lambda text: text.split()  # type: ignore[method-assign]
    engine.truncate_tokens = lambda text, n: " ".join(text.split()[:n])  # type: ignore[method-assign]
    return ListwiseReranker(engine)


def test_200_concurrent_haystack_and_llamaindex_reranks() -> None:
    with fault_server("ok", delay=0.02) as (url, state):
        both = BothWrappers(shared_reranker(url), [f"passage {i}" for i in range(6)])
        start = time.monotonic()
        hay, lli = both.round(N)
        elapsed = time.monotonic() - start
        growth = both.growth(N)
    assert len(hay) == N // 2 and len(lli) == N // 2
    assert all([d.id for d in out["documents"]] == [f"d{i}" for i in range(5, -1, -1)] for out in hay)
    assert all([n.node.node_id for n in out] == [f"n{i}" for i in range(5, -1, -1)] for out in lli)
    assert state.requests == 3 * N
    assert state.max_in_flight <= LIMIT
    assert elapsed < 60
    # A third round allocates no more than a small bound beyond the second (no growth per call).
    assert growth < 5 * 1024 * 1024
