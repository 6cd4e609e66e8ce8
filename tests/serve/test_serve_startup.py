"""A fresh service knows its model's identity (the result cache's key: the upstream's ``/models``,
or a hash of local weights) before it reports ready, so its first request never computes it on
the event loop; an upstream that does not answer at start-up is a warning and a fallback, not a
stall."""
from __future__ import annotations

import itertools
import logging
import threading
import time

import httpx
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from reasonrank.cache.replies import find_cache
from reasonrank.serve import ServeSettings, create_app
from reasonrank.spec import RerankerSpec
from reasonrank.testing.servers.instant_openai import instant_server
from reasonrank.testing.servers.reasonrank_server import serve

DELAY = 3.0  # seconds the fake upstream's GET /v1/models takes
OPEN_ENV = {"REASONRANK_API_KEY": "", "REASONRANK_SERVE_API_KEYS": ""}


def rerank(url: str, query: str) -> float:
    """Seconds one rerank request takes (checked 200)."""
    started = time.perf_counter()
    answer = httpx.post(f"{url}/v2/rerank", json={"query": query, "documents": ["a b", "c d", "e f"]}, timeout=60)
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def test_a_slow_models_endpoint_delays_no_request(capsys):
    args = ["--method", "listwise", "--engine", "openai", "--model", "instant", "--log-level", "warning"]
    with instant_server(models_delay=DELAY) as upstream, serve([*args, "--base-url", upstream], env=OPEN_ENV) as url:
        first: list[float] = []
        worker = threading.Thread(target=lambda: first.append(rerank(url, "first query")))
        worker.start()  # the fresh service's first request...
        time.sleep(0.3)
        started = time.perf_counter()  # ...and a request beside it
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200
        health = time.perf_counter() - started
        beside = rerank(url, "second query")
        worker.join()
        own = min(rerank(url, f"later query {i}") for i in range(3))  # the engine's own time, identity known
    with capsys.disabled():
        print(f"\nslow /models ({DELAY:g} s): first request {first[0]:.3f} s, /health beside it {health:.3f} s, "
              f"a rerank beside it {beside:.3f} s, a later rerank {own:.3f} s")
    assert health < 0.5, f"/health waited {health:.2f} s behind the first request"
    assert beside < own + 0.5 and first[0] < own + 0.5 + 0.3


def test_an_unreachable_upstream_at_start_is_a_warning_not_a_stall(caplog):
    caplog.set_level(logging.WARNING)
    spec = RerankerSpec(method="listwise", engine="openai", model="m", base_url="http://127.0.0.1:9/v1",
                        engine_options={"max_retries": 0})
    started = time.perf_counter()
    with TestClient(create_app(spec, ServeSettings())) as client:
        assert client.get("/health").json()["status"] == "ok"
        cache = find_cache(client.app.state.reranker.engine)
        assert cache is not None and '"served": "?"' in cache.identity  # the documented fallback
    assert time.perf_counter() - started < 5.0
    assert any("/models did not answer" in r.getMessage() for r in caplog.records)
    assert any("open to anyone" in r.getMessage() for r in caplog.records)  # no client key: said at start


def test_identity_built_inside_an_event_loop_never_blocks_it():
    """An engine built on a running loop (an async app) computes the identity in a worker
    thread; the loop keeps ticking through the build and the first async request."""
    import asyncio

    from reasonrank.engines.base import ChatRequest, SamplingParams

    async def main(upstream: str) -> tuple[float, float, str]:
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.05)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        engine = RerankerSpec(engine="openai", model="instant", base_url=upstream).build_engine()
        built = time.perf_counter() - started
        request = ChatRequest(messages=[{"role": "user", "content": "I will provide you with 2 passages"}])
        [reply] = await engine.agenerate([request], SamplingParams(max_tokens=8))
        await asyncio.sleep(0.1)
        ticker.cancel()
        gap = max(b - a for a, b in itertools.pairwise(ticks))
        return built, gap, reply.text

    with instant_server(models_delay=1.0) as upstream:
        built, gap, text = asyncio.run(main(upstream))
    assert built < 0.5 and gap < 0.5, f"build {built:.2f} s, the loop stalled {gap:.2f} s"
    assert "[2] > [1]" in text
