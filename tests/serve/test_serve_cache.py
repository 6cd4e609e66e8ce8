"""``reasonrank serve`` and the result cache: one namespace per API key (unless shared), hits in
the Prometheus metrics."""
from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.serve import ServeSettings, create_app
from reasonrank.spec import RerankerSpec
from reasonrank.testing.scripted_engines import reverse_window

pytestmark = pytest.mark.cost

BODY = {"query": "q", "documents": ["a", "b", "c"]}


def _run(shared: bool) -> tuple[int, str]:
    engine = ScriptedEngine(reverse_window)
    spec = RerankerSpec(method="listwise", engine=engine)
    settings = ServeSettings(api_keys=("key-a", "key-b"), cache_shared=shared)
    with TestClient(create_app(spec, settings)) as client:
        for key in ("key-a", "key-a", "key-b"):
            r = client.post("/v2/rerank", json=BODY, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200
        metrics = client.get("/metrics").text
    return sum(len(reqs) for _, reqs in engine.calls), metrics


def test_one_namespace_per_api_key():
    calls, metrics = _run(shared=False)
    assert calls == 2  # key-a's repeat was a hit; key-b's identical request was not
    assert 'reasonrank_cache_requests_total{result="hit"} 1.0' in metrics


def test_shared_cache_between_keys():
    calls, _ = _run(shared=True)
    assert calls == 1


def test_concurrent_identical_requests_coalesce():
    """Two identical requests at once: the second waits for the first's whole result (one engine
    call, no second preparation), counted as a hit and as coalesced in ``/metrics`` and ``/v1/stats``."""
    import threading
    import time

    from reasonrank.cache.replies import find_cache

    release, entered = threading.Event(), threading.Event()

    def gated(request):
        entered.set()
        assert release.wait(30)
        return reverse_window(request)

    engine = ScriptedEngine(gated, max_concurrency=1)
    app = create_app(RerankerSpec(method="listwise", engine=engine))
    cache = find_cache(app.state.reranker.engine)
    assert cache is not None
    with TestClient(app) as client:
        replies: list = []
        threads = [threading.Thread(target=lambda: replies.append(client.post("/v2/rerank", json=BODY)))
                   for _ in range(2)]
        threads[0].start()
        assert entered.wait(30)
        threads[1].start()
        deadline = time.monotonic() + 30
        while not cache.results.flights.waiting() and len(engine.calls) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        release.set()
        for t in threads:
            t.join(30)
        metrics = client.get("/metrics").text
        stats = client.get("/v1/stats").json()["cache"]
    assert [r.status_code for r in replies] == [200, 200] and replies[0].json()["results"] == replies[1].json()["results"]
    assert sum(len(reqs) for _, reqs in engine.calls) == 1
    assert "reasonrank_cache_coalesced_total 1.0" in metrics
    assert 'reasonrank_cache_requests_total{result="hit"} 1.0' in metrics
    # the repeat never reached the engine-reply cache: answered whole by the result memo
    assert stats == {"hits": 0, "misses": 1, "bypassed": 0, "coalesced": 0, "result_hits": 1, "result_coalesced": 1}
