"""Every API shape called by its real client library against one running ``reasonrank serve``
(a scripted engine that ranks each window back to front): Cohere (v1 and v2 SDK), Voyage,
Infinity, TEI (Haystack's ``HuggingFaceTEIRanker``), and LiteLLM's ``rerank`` with its
jina_ai / voyage / infinity / hosted_vllm / huggingface providers. vLLM's ``/score`` has no
client library on the registry: plain httpx. Each: every index at most once, its own top-n
field, its own usage field, its own error body for a wrong key."""
from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from reasonrank.testing.servers.reasonrank_server import scripted_args

# LiteLLM reads its model price list from the network at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

KEY = "clients-key-29"
DOCS = [f"passage {i}" for i in range(6)]
ORDER = [5, 4, 3, 2, 1, 0]  # one window, reversed by the script
# The module's server (conftest.py). Each client sends the same request: with the result cache a
# repeat is a hit that computes (and reports) no tokens; these tests check each shape's own usage field.
SERVE_ARGS = scripted_args("instant", "--cache", "off", method_options={"reasoning_budget": 32}, api_key=KEY)


def test_cohere_v2_and_v1_sdks(server):
    cohere = pytest.importorskip("cohere")
    v2 = cohere.ClientV2(base_url=server, api_key=KEY).rerank(model="m", query="q", documents=DOCS, top_n=3)
    assert [r.index for r in v2.results] == ORDER[:3] and v2.meta.tokens.input_tokens > 0
    v1 = cohere.Client(base_url=server, api_key=KEY).rerank(model="m", query="q", documents=DOCS, top_n=2,
                                                           return_documents=True)
    assert [r.index for r in v1.results] == ORDER[:2]
    assert v1.results[0].document.text == DOCS[ORDER[0]]


def test_voyage_sdk(server):
    voyageai = pytest.importorskip("voyageai")
    client = voyageai.Client(api_key=KEY, base_url=server + "/v1", max_retries=0)
    out = client.rerank("q", DOCS, model="rerank-2", top_k=4)
    assert [r.index for r in out.results] == ORDER[:4] and out.total_tokens > 0
    assert out.results[0].document == DOCS[ORDER[0]]
    bad = voyageai.Client(api_key="wrong", base_url=server + "/v1", max_retries=0)
    with pytest.raises(voyageai.error.AuthenticationError, match="invalid API key"):
        bad.rerank("q", DOCS, model="rerank-2")


def test_infinity_client(server):
    pytest.importorskip("infinity_client")
    from infinity_client import AuthenticatedClient
    from infinity_client.api.default import rerank
    from infinity_client.models import RerankInput

    client = AuthenticatedClient(base_url=server, token=KEY)
    out = rerank.sync(client=client, body=RerankInput(query="q", documents=DOCS, return_documents=True, top_n=2))
    assert [r.index for r in out.results] == ORDER[:2] and out.usage.total_tokens > 0
    assert out.results[0].document == DOCS[ORDER[0]]  # a plain string, as Infinity answers


def test_haystack_tei_ranker(server):
    pytest.importorskip("haystack_integrations.components.rankers.huggingface_api")
    from haystack import Document
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.huggingface_api import HuggingFaceTEIRanker

    ranker = HuggingFaceTEIRanker(url=server, top_k=3, token=Secret.from_token(KEY))
    docs = ranker.run(query="q", documents=[Document(content=d) for d in DOCS])["documents"]
    assert [d.content for d in docs] == [DOCS[i] for i in ORDER[:3]]
    wrong = HuggingFaceTEIRanker(url=server, token=Secret.from_token("wrong"))
    with pytest.raises(RuntimeError, match="401"):
        wrong.run(query="q", documents=[Document(content=d) for d in DOCS])


@pytest.mark.parametrize("provider", ["jina_ai", "voyage", "infinity", "hosted_vllm", "huggingface"])
def test_litellm_rerank_providers(server, provider):
    litellm = pytest.importorskip("litellm")
    # LiteLLM's infinity provider sends Cohere's request: Infinity's own path tells it apart
    base = server + "/infinity" if provider == "infinity" else server
    out = litellm.rerank(model=f"{provider}/reasonrank", query="q", documents=DOCS, top_n=3,
                         api_base=base, api_key=KEY)
    indices = [r["index"] for r in out.results]
    assert indices[:3] == ORDER[:3] and len(indices) == len(set(indices))
    if provider != "huggingface":  # TEI has no top_n: LiteLLM gets every text back
        assert len(indices) == 3
        assert out.results[0]["document"]["text"] == DOCS[ORDER[0]]
    with pytest.raises(Exception, match="401|invalid API key"):
        litellm.rerank(model=f"{provider}/reasonrank", query="q", documents=DOCS, api_base=base,
                       api_key="wrong")


def post(url: str, body: Any, key: str = KEY) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_vllm_score_in_input_order(server):
    r = post(server + "/score", {"model": "m", "text_1": "q", "text_2": DOCS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["index"] for d in body["data"]] == list(range(6)) and body["object"] == "list"
    scores = [d["score"] for d in body["data"]]
    assert sorted(range(6), key=lambda i: -scores[i]) == ORDER and body["usage"]["total_tokens"] > 0
    two = post(server + "/v1/score", {"text_1": ["q", "other"], "text_2": ["a", "b"]})
    assert two.status_code == 422 and two.json()["error"]["message"].startswith("text_1: one query")


def test_shared_paths_answer_a_superset(server):
    v1 = post(server + "/v1/rerank", {"query": "q", "documents": DOCS, "top_n": 2}).json()
    assert [x["index"] for x in v1["results"]] == ORDER[:2]  # Cohere / Jina / vLLM
    assert [x["index"] for x in v1["data"]] == ORDER  # Voyage (its own top_k unset)
    assert v1["meta"]["api_version"]["version"] == "2" and v1["usage"]["total_tokens"] > 0
    assert v1["results"][0]["document"] == {"text": DOCS[5]}  # Jina returns documents by default
    rr = post(server + "/rerank", {"query": "q", "documents": DOCS, "top_n": 0}).json()
    assert [x["index"] for x in rr["results"]] == ORDER and "object" not in rr  # vLLM's 0 = all
    wrong = post(server + "/v1/rerank", {"query": "q", "documents": DOCS}, key="wrong")
    assert wrong.status_code == 401
    assert {"message", "detail", "error"} <= set(wrong.json())  # Cohere, Jina/Voyage, vLLM bodies
