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
