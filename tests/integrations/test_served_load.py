"""Load against a real model server, not instant answers: llama_cpp.server on 127.0.0.1 serves
the embedded model, and N concurrent async reranks go through the Haystack and LlamaIndex
wrappers sharing one OpenAI engine (remote token counting included). All complete, every id
comes back once, the engine never has more than ``max_concurrency`` requests in flight (and does
reach concurrency), and memory stays flat from one round to the next. ``benchmarks/serving/model_server_load.py``
reports queries/s and latency percentiles for the same setup."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("llama_cpp.server.app")
pytest.importorskip("haystack")
pytest.importorskip("llama_index.core")

from load_helpers import BothWrappers
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.testing.servers.llama_server import llama_cpp_server

pytestmark = [pytest.mark.embedded, pytest.mark.load]

LIMIT = 3
N = 8  # concurrent reranks per round (half Haystack, half LlamaIndex): what 2 cores serve in ~10 s
TEXTS = ["Tides are caused by the gravitational pull of the moon.", "The stock market fell on Monday.",
         "Ocean water rises and falls twice a day.", "A recipe for lemon cake with icing."]


class InFlight:
    """Counts generation requests on the wire (aiohttp requests to /chat/completions, from
    sending until the response arrives), whatever loop or thread sends them; the server queues
    them, the client bound is what is checked."""

    def __init__(self) -> None:
        self.now = self.most = self.total = 0
        self.lock = threading.Lock()

    def wrap(self, post):
        async def counted(client, *args, **kwargs):
            url = args[1] if len(args) > 1 else kwargs.get("str_or_url", "")
            if not str(url).endswith("/chat/completions"):
                return await post(client, *args, **kwargs)
            with self.lock:
                self.now += 1
                self.total += 1
                self.most = max(self.most, self.now)
            try:
                return await post(client, *args, **kwargs)
            finally:
                with self.lock:
                    self.now -= 1
        return counted


def test_concurrent_reranks_through_both_wrappers_against_llama_cpp_server(monkeypatch) -> None:
    import aiohttp
    from reasonrank.engines.embedded_model import embedded_gguf_path

    wire = InFlight()
    # the OpenAI engine speaks aiohttp: ClientSession.post(...) runs ClientSession._request
    monkeypatch.setattr(aiohttp.ClientSession, "_request", wire.wrap(aiohttp.ClientSession._request))
    with llama_cpp_server(embedded_gguf_path(), n_ctx=2048) as url:
        engine = OpenAIEngine("embedded", base_url=url, max_concurrency=LIMIT, max_retries=0, timeout=300)
        reranker = ListwiseReranker(engine, reasoning_budget=8, answer_tokens=8, max_passage_tokens=32)
        both = BothWrappers(reranker, TEXTS, doc_prefix="h")
        queries = ("why do tides happen {}", "what moves the ocean {}")
        hay, lli = both.round(N, *queries)
        growth = both.growth(N, *queries)
    assert len(hay) == len(lli) == N // 2
    for out in hay:
        assert sorted(d.id for d in out["documents"]) == [f"h{i}" for i in range(4)]
    for out in lli:
        assert sorted(n.node.node_id for n in out) == [f"n{i}" for i in range(4)]
    assert wire.total == 3 * N  # one window per rerank, three rounds
    assert 2 <= wire.most <= LIMIT
    assert growth < 5 * 1024 * 1024  # no growth per round
