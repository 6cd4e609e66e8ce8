"""``reasonrank serve`` over a real model end to end: the tiny random Qwen2 (real Qwen tokenizer
and chat template) in transformers, called by the cohere SDK, by plain HTTP from concurrent
clients, and by a Haystack pipeline whose own Cohere ranker is pointed at the service."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from reasonrank.testing.servers.reasonrank_server import serve

DOCS = [f"The city number {i} has {i * 7} parks and a river." for i in range(30)]


@pytest.fixture(scope="module")
def server(tiny_model_path):
    args = [
        "--engine", "transformers", "--model", str(tiny_model_path), "--method", "listwise",
        "--engine-options", json.dumps({"device": "cpu", "dtype": "float32", "max_batch_size": 8}),
        # random weights never write a ranking: keep generation short
        "--method-options", json.dumps({"depth": 100, "reasoning_budget": 8, "answer_tokens": 4}),
        "--max-in-flight", "4",
    ]
    with serve(args, startup=600) as url:  # torch + model load: slow on a busy 2-core box
        yield url


def test_cohere_sdk_against_tiny_model(server):
    cohere = pytest.importorskip("cohere")
    client = cohere.ClientV2(base_url=server, api_key="unused")
    resp = client.rerank(model="tiny", query="Which city has the most parks?", documents=DOCS, top_n=7)
    indices = [r.index for r in resp.results]
    assert len(indices) == 7 and len(set(indices)) == 7
    scores = [r.relevance_score for r in resp.results]
    assert scores == sorted(scores, reverse=True)
    # a random model writes no usable ranking: kept order, with a warning (nothing lost)
    assert resp.meta.warnings


def test_concurrent_clients_batch_windows_of_different_requests(server):
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(
            lambda i: httpx.post(server + "/v2/rerank", json={"query": f"parks {i}", "documents": DOCS},
                                 timeout=300), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    for r in responses:
        assert sorted(x["index"] for x in r.json()["results"]) == list(range(30))
    stats = httpx.get(server + "/v1/stats", timeout=30).json()
    assert stats["engine"]["mixed_calls"] >= 1, stats
    assert stats["admission"]["max_in_flight_seen"] <= 4


def test_haystack_cohere_ranker_pointed_at_the_service(server):
    pytest.importorskip("haystack")
    ranker_mod = pytest.importorskip("haystack_integrations.components.rankers.cohere")
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.utils import Secret

    store = InMemoryDocumentStore()
    store.write_documents([Document(content=text) for text in DOCS[:12]])
    pipe = Pipeline()
    pipe.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=10))
    pipe.add_component("ranker", ranker_mod.CohereRanker(model="tiny", top_k=3, api_base_url=server,
                                                        api_key=Secret.from_token("unused")))
    pipe.connect("retriever.documents", "ranker.documents")
    out = pipe.run({"retriever": {"query": "parks and a river"}, "ranker": {"query": "parks and a river"}})
    docs = out["ranker"]["documents"]
    assert len(docs) == 3 and len({d.id for d in docs}) == 3
    assert all(d.content in DOCS for d in docs)
    assert [d.score for d in docs] == sorted((d.score for d in docs), reverse=True)
