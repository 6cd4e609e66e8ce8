"""The error policy per request, in process (FastAPI's TestClient runs the app's lifespan):
unusable model output keeps the input order with a warning; an engine failure is a 503 (or
keeps the order when the reranker was built with on_error="keep_order"); a request past its
timeout gets 504 and its queued windows are dropped; no stack trace ever leaves the server."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.serve import ServeSettings, create_app
from reasonrank.spec import RerankerSpec
from reasonrank.testing.scripted_engines import reverse_window

DOCS = [f"doc {i}" for i in range(5)]


def client(engine, on_error="raise", **settings) -> TestClient:
    spec = RerankerSpec(method="listwise", engine=engine, on_error=on_error, depth=100,
                        method_options={"reasoning_budget": 32})
    return TestClient(create_app(spec, ServeSettings(**settings)), raise_server_exceptions=False)


def test_unusable_output_keeps_order_with_warning():
    with client(ScriptedEngine(lambda r: "I cannot rank these.", max_concurrency=1)) as c:
        r = c.post("/v2/rerank", json={"query": "q", "documents": DOCS})
        metrics = c.get("/metrics").text
    assert r.status_code == 200, r.text
    assert "reasonrank_fallbacks_total 1.0" in metrics
    body = r.json()
    assert [x["index"] for x in body["results"]] == list(range(5))
    assert body["meta"]["warnings"] and body["reasonrank"]["kept_input_order"] is True


class Broken(ScriptedEngine):
    def generate(self, requests, params):
        raise ConnectionError("backend at 10.0.0.7:8000 refused the connection")


def test_engine_failure_is_503_without_traceback():
    with client(Broken(max_concurrency=1)) as c:
        r = c.post("/v2/rerank", json={"query": "q", "documents": DOCS})
        metrics = c.get("/metrics").text
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    message = r.json()["message"]
    assert message.startswith("engine failure: ") and "ConnectionError: backend" in message
    assert "Traceback" not in r.text and 'File "' not in r.text
    assert 'reasonrank_requests_total{status="503"} 1.0' in metrics


def test_engine_failure_keeps_order_when_started_with_keep_order():
    with client(Broken(max_concurrency=1), on_error="keep_order") as c:
        r = c.post("/v2/rerank", json={"query": "q", "documents": DOCS, "top_n": 3})
    assert r.status_code == 200
    body = r.json()
    assert [x["index"] for x in body["results"]] == [0, 1, 2]
    assert any("engine error" in w for w in body["meta"]["warnings"])


def test_timeout_is_504_and_queued_windows_are_dropped():
    release = threading.Event()
    engine = ScriptedEngine(reverse_window, max_concurrency=1, max_batch_size=1,
                            delay_fn=lambda r: release.wait(5) and 0)
    docs = [f"doc {i}" for i in range(30)]  # two windows: the second is dropped
    with client(engine, request_timeout=0.3) as c:
        r = c.post("/v2/rerank", json={"query": "q", "documents": docs})
        release.set()
        assert r.status_code == 504 and "timed out after 0.3 s" in r.json()["message"]
        ok = c.post("/v2/rerank", json={"query": "q", "documents": DOCS})
        assert ok.status_code == 200
        stats = c.get("/v1/stats").json()
    assert stats["admission"]["in_flight"] == 0
    # the timed-out request's second window never reached the engine
    windows_of_30 = [r for _, batch in engine.calls for r in batch
                     if "provide you with 20 passages" in r.messages[-1]["content"]]
    assert len(windows_of_30) <= 1 and stats["engine"]["requests"] == len(windows_of_30) + 1


def test_internal_error_is_500_without_traceback(monkeypatch):
    with client(ScriptedEngine(reverse_window, max_concurrency=1)) as c:
        monkeypatch.setattr("reasonrank.serve.apis.cohere.to_response", lambda *a: 1 / 0)
        r = c.post("/v2/rerank", json={"query": "q", "documents": DOCS})
    assert r.status_code == 500
    assert r.json()["message"] == "internal error; see the server log"
    assert "ZeroDivisionError" not in r.text


def test_health_before_start_is_503():
    app = create_app(RerankerSpec(method="listwise", engine=ScriptedEngine(max_concurrency=1)))
    r = TestClient(app).get("/health")  # no lifespan without the context manager
    assert r.status_code == 503 and r.json()["status"] == "starting"


def test_async_engine_requests_share_one_gate():
    """An async engine (OpenAI-compatible server) with max_concurrency 2: six concurrent requests
    never have more than two prompts at the engine, and prompts of different requests overlap."""
    from concurrent.futures import ThreadPoolExecutor

    engine = ScriptedEngine(reverse_window, max_concurrency=2, delay_fn=lambda r: 0.05)
    docs = [f"doc {i}" for i in range(30)]
    with client(engine) as c, ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda i: c.post("/v2/rerank", json={"query": f"q{i}", "documents": docs}),
                                  range(6)))
        stats = c.get("/v1/stats").json()["engine"]
    assert [r.status_code for r in responses] == [200] * 6
    assert all(sorted(x["index"] for x in r.json()["results"]) == list(range(30)) for r in responses)
    assert engine.max_in_flight_seen == 2
    assert stats["max_tickets_in_flight"] == 2 and stats["requests"] == 12
