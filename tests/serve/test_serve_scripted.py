"""``reasonrank serve`` as a subprocess over a scripted sync batch engine (100 ms per call),
called with the official ``cohere`` SDK and plain httpx: API shape, auth, limits, concurrency,
cross-request batching, 429 under a flood, metrics. One server for the whole module."""
from __future__ import annotations

import itertools
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from reasonrank.testing.servers.reasonrank_server import scripted_args, serve

KEY = "test-key-16"
MAX_IN_FLIGHT, QUEUE_LIMIT = 4, 8
DOCS = [f"passage number {i} about topic {i % 3}" for i in range(30)]
# 30 documents, windows of 20 with stride 10, back to front; each window reversed by the script:
# [10, 30) -> 29..10, then [0, 20) holds 0..9, 29..20 -> 20..29, 9..0; then 19..10.
EXPECTED = list(range(20, 30)) + list(range(9, -1, -1)) + list(range(19, 9, -1))
# The module's server (conftest.py).
SERVE_ARGS = scripted_args(
    "batching", "--max-in-flight", str(MAX_IN_FLIGHT), "--queue-limit", str(QUEUE_LIMIT),
    "--max-documents", "50", "--max-document-bytes", "2000", "--max-body-bytes", "200000",
    method_options={"depth": 100, "reasoning_budget": 64}, api_key=KEY,
)


def post(url: str, body: object, key: str | None = KEY, headers: dict | None = None) -> httpx.Response:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(url + "/v2/rerank", content=content, timeout=60,
                      headers={**auth, "Content-Type": "application/json", **(headers or {})})


def test_cohere_sdk_rerank(server):
    cohere = pytest.importorskip("cohere")
    client = cohere.ClientV2(base_url=server, api_key=KEY)
    resp = client.rerank(model="reasonrank", query="which passage is last?", documents=DOCS, top_n=5)
    assert [r.index for r in resp.results] == EXPECTED[:5]
    scores = [r.relevance_score for r in resp.results]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 5
    assert resp.meta.api_version.version == "2"
    assert resp.meta.tokens.input_tokens > 0
    # the extra field survives the SDK's model (extra="allow")
    extra = resp.model_extra["reasonrank"] if resp.model_extra else resp.reasonrank
    assert extra["method"] == "listwise" and "later passages first" in extra["reasoning"]


def test_cohere_sdk_wrong_key(server):
    cohere = pytest.importorskip("cohere")
    from cohere.errors import UnauthorizedError

    client = cohere.ClientV2(base_url=server, api_key="wrong")
    with pytest.raises(UnauthorizedError):
        client.rerank(model="reasonrank", query="q", documents=["a", "b"])


def test_plain_http_every_index_once(server):
    r = post(server, {"query": "q", "documents": DOCS, "return_documents": True},
             headers={"X-Request-ID": "my-req-1"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "my-req-1"
    body = r.json()
    assert body["id"] == "my-req-1"
    indices = [x["index"] for x in body["results"]]
    assert indices == EXPECTED and sorted(indices) == list(range(30))
    scores = [x["relevance_score"] for x in body["results"]]
    assert all(a > b for a, b in itertools.pairwise(scores))
    assert all(x["document"] == {"text": DOCS[x["index"]]} for x in body["results"])
    assert body["meta"]["warnings"] == [] and body["reasonrank"]["engine_calls"] == 2


def test_object_documents_and_v1_path(server):
    docs = [{"text": "alpha", "title": "A"}, {"text": "beta"}, {"url": "http://x", "body": "gamma"}]
    r = httpx.post(server + "/v1/rerank", json={"query": "q", "documents": docs, "top_n": 2,
                                               "return_documents": True},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [2, 1]
    # the document as sent (Cohere), with the text Jina/vLLM clients read beside it (the superset)
    assert results[0]["document"] == {**docs[2], "text": "url: http://x\nbody: gamma"}


@pytest.mark.parametrize("headers, status, needle", [
    ({}, 401, "missing bearer token"),
    ({"Authorization": "Bearer nope"}, 401, "invalid API key"),
    ({"Authorization": f"Basic {KEY}"}, 401, "missing bearer token"),
])
def test_auth(server, headers, status, needle):
    r = httpx.post(server + "/v2/rerank", json={"query": "q", "documents": ["a"]}, headers=headers, timeout=30)
    assert r.status_code == status
    assert needle in r.json()["message"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("body, status, needle", [
    (b"{not json", 400, "not valid JSON"),
    ([1, 2], 422, "JSON object"),
    ({"documents": ["a"]}, 422, "query: Field required"),
    ({"query": 5, "documents": ["a"]}, 422, "query: Input should be a valid string"),
    ({"query": "q", "documents": "abc"}, 422, "documents: Input should be a valid list"),
    ({"query": "q", "documents": [3]}, 422, "documents.0"),
    # top_n 0 is vLLM's "all" on the same path; -1 no shape accepts: the first (Cohere) answers
    ({"query": "q", "documents": ["a"], "top_n": -1}, 422, "top_n: Input should be greater than or equal to 1"),
    ({"query": "q", "documents": ["a"], "top_n": "3"}, 422, "top_n: Input should be a valid integer"),
    ({"query": " ", "documents": ["a"]}, 422, "query: must not be empty"),
    ({"query": "q", "documents": []}, 422, "documents: must not be empty"),
    ({"query": "q", "documents": ["a"] * 51}, 422, "51 documents; the limit is 50"),
    ({"query": "q", "documents": ["a", "x" * 2001]}, 413, "documents.1: 2001 bytes; the limit is 2000"),
    ({"query": "q", "documents": [{"title": "t"}]}, 422, "needs a 'text' string"),
    (b"x" * 200_001, 413, "the limit is 200000"),
])
def test_bad_input(server, body, status, needle):
    r = post(server, body)
    assert r.status_code == status, r.text
    message = r.json()["message"]
    assert needle in message
    assert "Traceback" not in r.text


def test_concurrent_clients_share_engine_calls(server):
    """8 clients at once, 4 in flight: all answered, bound kept, windows of different requests
    in the same engine call."""
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: post(server, {"query": f"q{i}", "documents": DOCS}), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert all([x["index"] for x in r.json()["results"]] == EXPECTED for r in responses)
    stats = httpx.get(server + "/v1/stats", headers={"Authorization": f"Bearer {KEY}"}, timeout=30).json()
    assert stats["admission"]["max_in_flight_seen"] <= MAX_IN_FLIGHT
    assert stats["admission"]["max_in_flight_seen"] >= 2
    engine = stats["engine"]
    assert engine["mixed_calls"] >= 1, engine
    assert 2 <= engine["max_tickets_per_call"] <= MAX_IN_FLIGHT
    assert engine["max_batch"] <= 16


def test_flood_gets_429_and_nothing_crashes(server):
    """40 requests at once against 4 slots + 8 queued: the rest get 429 with Retry-After."""
    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(lambda i: post(server, {"query": f"flood {i}", "documents": DOCS}), range(40)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429}, codes
    assert codes.count(429) >= 1 and codes.count(200) >= MAX_IN_FLIGHT
    busy = next(r for r in responses if r.status_code == 429)
    assert busy.headers["retry-after"] == "1" and "retry later" in busy.json()["message"]
    assert all(sorted(x["index"] for x in r.json()["results"]) == list(range(30))
               for r in responses if r.status_code == 200)
    assert httpx.get(server + "/health", timeout=10).status_code == 200


def test_health_and_metrics(server):
    health = httpx.get(server + "/health", timeout=10).json()
    assert health == {"status": "ok", "method": "listwise", "engine": "scripted", "model": "scripted"}
    post(server, {"query": "q", "documents": DOCS[:3]})
    text = httpx.get(server + "/metrics", timeout=10).text
    for name in ('reasonrank_requests_total{status="200"}', "reasonrank_request_seconds_bucket",
                 "reasonrank_engine_calls_total", "reasonrank_engine_requests_total",
                 "reasonrank_engine_mixed_calls_total", 'reasonrank_tokens_total{kind="prompt"}',
                 "reasonrank_fallbacks_total", "reasonrank_in_flight", "reasonrank_queued"):
        assert name in text, name
    assert 'reasonrank_requests_total{status="401"}' in text


def test_graceful_shutdown_finishes_in_flight_requests():
    """SIGTERM while a request is at the engine: it still gets its answer, then the engine closes."""
    args = scripted_args("slow", "--shutdown-timeout", "20")
    with ThreadPoolExecutor(1) as pool, serve(args) as url:
        pending = pool.submit(httpx.post, url + "/v2/rerank", json={"query": "q", "documents": DOCS[:5]},
                              headers={"X-Request-ID": "drain-me"}, timeout=30)
        deadline = time.monotonic() + 30
        while httpx.get(url + "/v1/stats", timeout=10).json()["engine"]["in_flight"] == 0:
            assert time.monotonic() < deadline, "the request never reached the engine"
            time.sleep(0.05)
        serve.proc.send_signal(signal.SIGTERM)  # the request is inside its one-second engine call
        answer = pending.result()
    assert answer.status_code == 200 and len(answer.json()["results"]) == 5
    # uvicorn re-raises the signal after a clean shutdown, so the exit status is -SIGTERM or 0
    assert serve.last_returncode in (0, -signal.SIGTERM)
    log = serve.last_log
    assert log.index('"event": "reranked"') < log.index('"event": "stop"')
    # structured logs: one JSON line per event, with the request id
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {"event": "rerank", "request_id": "drain-me", "status": 200}.items() <= next(
        e for e in events if e["event"] == "rerank").items()
    assert "Application shutdown complete" in log
