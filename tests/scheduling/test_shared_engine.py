"""SharedEngine: many callers, one engine. Sync engines get continuous batching across callers
(windows of different callers in one call), async engines one gate across callers."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from reasonrank.engines.base import SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError
from reasonrank.factory import build_reranker
from reasonrank.scheduling import (
    RequestCancelled,
    SharedEngine,
    Ticket,
    current_ticket,
)
from scheduling_helpers import P, req, shout


def as_ticket(name: str, fn, *args):
    token = current_ticket.set(Ticket(id=name))
    try:
        return fn(*args)
    finally:
        current_ticket.reset(token)


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_sync_callers_share_engine_calls():
    engine = ScriptedEngine(shout, max_batch_size=8, max_concurrency=1,
                            delay_fn=lambda r: 0.05)
    shared = SharedEngine(engine)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(as_ticket, f"c{i}", shared.generate, [req(f"a{i}"), req(f"b{i}")], P)
                   for i in range(6)]
        outs = [f.result() for f in futures]
    shared.close()
    assert [[g.text for g in out] for out in outs] == [[f"A{i}", f"B{i}"] for i in range(6)]
    s = shared.stats
    assert s.requests == 12 and s.calls < 6  # fewer calls than callers: they were merged
    assert s.mixed_calls >= 1 and s.max_tickets_per_call >= 2 and s.max_batch <= 8
    assert all(len(batch) <= 8 for _, batch in engine.calls)


def test_different_params_never_share_a_call():
    seen: list[tuple[SamplingParams, list[str]]] = []

    class Recording(ScriptedEngine):
        def generate(self, requests, params):
            seen.append((params, [r.messages[0]["content"] for r in requests]))
            return super().generate(requests, params)

    shared = SharedEngine(Recording(lambda r: "x", max_batch_size=8, max_concurrency=1, delay_fn=lambda r: 0.02))
    other = SamplingParams(max_tokens=2)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: shared.generate([req(str(i))], P if i % 2 else other), range(8)))
    shared.close()
    assert sum(len(texts) for _, texts in seen) == 8
    for params, texts in seen:
        assert {int(t) % 2 for t in texts} == {1 if params == P else 0}


def test_engine_failure_reaches_every_caller_of_the_call():
    class Broken(ScriptedEngine):
        def generate(self, requests, params):
            time.sleep(0.02)
            raise OSError("gpu fell off the bus")

    shared = SharedEngine(Broken(max_batch_size=8, max_concurrency=1))
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(shared.generate, [req(str(i))], P) for i in range(3)]
        errors = [f.exception() for f in futures]
    shared.close()
    assert all(isinstance(e, EngineError) and "gpu fell off the bus" in str(e) for e in errors)
    assert shared.stats.failed_calls >= 1 and shared.stats.in_flight == 0


def test_cancelled_ticket_drops_queued_requests():
    gate = threading.Event()
    engine = ScriptedEngine(lambda r: "ok", max_batch_size=1, max_concurrency=1,
                            delay_fn=lambda r: gate.wait(5) and 0)
    shared = SharedEngine(engine)
    slow, doomed = Ticket("slow"), Ticket("doomed")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(lambda: (current_ticket.set(slow), shared.generate([req("1")], P))[1])
        wait_until(lambda: len(engine.calls) == 1)  # the first call is at the engine
        second = pool.submit(lambda: (current_ticket.set(doomed), shared.generate([req("2")], P))[1])
        wait_until(lambda: shared.stats.queued == 1)  # the next one waits in the queue
        doomed.cancel()
        gate.set()
        assert first.result()[0].text == "ok"
        with pytest.raises(RequestCancelled):
            second.result()
    shared.close()
    assert shared.stats.cancelled_requests == 1 and shared.stats.requests == 1


async def test_async_engine_one_gate_across_callers():
    engine = ScriptedEngine(lambda r: "y", max_concurrency=64, delay_fn=lambda r: 0.02)
    shared = SharedEngine(engine, max_concurrency=3)
    shared.bind_loop()

    async def caller(i: int):
        current_ticket.set(Ticket(id=f"c{i}"))
        return await shared.agenerate([req(f"{i}-{k}") for k in range(4)], P)

    outs = await asyncio.gather(*(caller(i) for i in range(5)))
    assert all(len(o) == 4 for o in outs)
    assert engine.max_in_flight_seen == 3  # the bound holds across callers
    assert shared.stats.max_tickets_in_flight >= 2 and shared.stats.requests == 20


def test_listwise_through_shared_engine_matches_direct():
    """Same rankings through the shared engine as directly (the sharing is transparent)."""
    from reasonrank.testing.scripted_engines import reverse_window

    docs = [{"id": f"d{i}", "text": f"text {i}"} for i in range(30)]
    direct = build_reranker(method="listwise", engine=ScriptedEngine(reverse_window, max_concurrency=1),
                            depth=100).rerank("q", docs)
    shared = SharedEngine(ScriptedEngine(reverse_window, max_concurrency=1))
    reranker = build_reranker(method="listwise", engine=shared, depth=100)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: reranker.rerank(f"q{i}", docs), range(4)))
    shared.close()
    assert all(r.ids == direct.ids for r in results)


@pytest.mark.parametrize("name", ["icr", "first", "pointwise"])
def test_every_request_kind_goes_through_one_shared_dispatcher(name: str):
    """Attention and choice log-probabilities are shared like generations: concurrent callers'
    requests of one kind meet in one engine call."""
    from reasonrank.engines.base import AttentionReadout

    class Scripted(ScriptedEngine):
        supports_attention = True

        def choice_logprobs(self, requests, choices):
            time.sleep(0.2)  # slow enough for the other callers' requests to queue meanwhile
            return super().choice_logprobs(requests, choices)

        def attention(self, requests):
            self._record("attention", requests)
            time.sleep(0.2)
            return [AttentionReadout(weights=[[[1.0] for _ in r.segments] for _ in r.probes],
                                     tokens=[[s] for s in r.segments]) for r in requests]

    engine = Scripted(lambda r: "thought.", lambda r, c: {x: -float(i) for i, x in enumerate(c)},
                      max_batch_size=8, max_concurrency=1, delay_fn=lambda r: 0.2)
    shared = SharedEngine(engine)
    assert shared.supports_attention
    reranker = build_reranker(method=name, engine=shared)
    docs = [{"id": f"d{i}", "text": f"text {i}"} for i in range(3)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: as_ticket(f"c{i}", reranker.rerank, f"q{i}", docs), range(4)))
    shared.close()
    assert all(sorted(r.ids) == ["d0", "d1", "d2"] for r in results)
    assert shared.stats.mixed_calls >= 1 and shared.stats.failed_calls == 0
