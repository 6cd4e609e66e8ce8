"""The result cache's single flight: a request whose key is being computed waits for that
computation (threads, coroutines, across loops) instead of calling the engine again; repeats
within one call reach the engine once; a leader's error reaches its waiters and is not stored."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

import pytest
from reasonrank.cache.replies import CachedEngine
from reasonrank.engines.base import (
    AttentionReadout,
    AttentionRequest,
    ChatRequest,
    Generation,
    SamplingParams,
)
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError

pytestmark = pytest.mark.cost

REQ = ChatRequest.of([{"role": "user", "content": "hello"}])
PARAMS = SamplingParams(max_tokens=16)


def req(text: str) -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": text}])


class GatedEngine(ScriptedEngine):
    """Every call blocks until ``release`` is set (then fails if ``fail`` is); ``entered`` is
    set when a call has reached the engine."""

    def __init__(self) -> None:
        super().__init__(lambda r: "answer " + r.messages[-1]["content"])
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail = False

    def _reply(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        if self.fail:
            raise EngineError("server down")
        return [self._one(r, params) for r in requests]

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self._record("generate", requests)
        self.entered.set()
        assert self.release.wait(30)
        return self._reply(requests, params)

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self._record("agenerate", requests)
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.002)
        return self._reply(requests, params)


def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def second_arrived(engine: CachedEngine, inner: ScriptedEngine) -> bool:
    """The second caller is waiting on the first's flight (or, without coalescing, at the engine)."""
    return len(inner.calls) >= 2 or engine.flights.waiting() > 0


def in_threads(*calls: Callable[[], object]) -> tuple[list[threading.Thread], list[object]]:
    out: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]  # a deadlock fails, never hangs
    return threads, out


def same_request_twice(engine: CachedEngine, inner: GatedEngine) -> list[object]:
    """Two threads send REQ: the second arrives while the first is inside the engine; then the
    engine is released. What each thread got (a reply list or an exception)."""
    threads, out = in_threads(lambda: engine.generate([REQ], PARAMS), lambda: engine.generate([REQ], PARAMS))
    threads[0].start()
    until(inner.entered.is_set)
    threads[1].start()
    until(lambda: second_arrived(engine, inner))
    inner.release.set()
    for t in threads:
        t.join(30)
    return out


def test_two_threads_one_engine_call():
    inner = GatedEngine()
    engine = CachedEngine(inner)
    out = same_request_twice(engine, inner)
    assert len(inner.calls) == 1
    first, second = (o[0] for o in out)  # type: ignore[index]
    assert first.text == second.text == "answer hello" and not first.cached and second.cached
    assert first is not second
    assert engine.stats.to_dict() == {"hits": 1, "misses": 1, "bypassed": 0, "coalesced": 1,
                                      "result_hits": 0, "result_coalesced": 0}


def test_two_coroutines_one_engine_call():
    inner = GatedEngine()
    engine = CachedEngine(inner)

    async def main() -> list[list[Generation]]:
        a = asyncio.create_task(engine.agenerate([REQ], PARAMS))
        while not inner.entered.is_set():
            await asyncio.sleep(0.002)
        b = asyncio.create_task(engine.agenerate([REQ], PARAMS))
        while not second_arrived(engine, inner):
            await asyncio.sleep(0.002)
        inner.release.set()
        return await asyncio.gather(a, b)

    first, second = (r[0] for r in asyncio.run(main()))
    assert len(inner.calls) == 1 and first.text == second.text == "answer hello" and second.cached
    assert engine.stats.hits == 1 and engine.stats.coalesced == 1


def test_coroutine_on_another_loop_waits_for_a_thread():
    inner = GatedEngine()
    engine = CachedEngine(inner)
    threads, _ = in_threads(lambda: engine.generate([REQ], PARAMS))
    threads[0].start()
    until(inner.entered.is_set)
    releaser = threading.Thread(target=lambda: (until(lambda: second_arrived(engine, inner)), inner.release.set()))
    releaser.start()
    reply = asyncio.run(engine.agenerate([REQ], PARAMS))[0]
    threads[0].join(30)
    releaser.join(30)
    assert len(inner.calls) == 1 and reply.text == "answer hello" and reply.cached


def test_duplicates_in_one_batch_reach_the_engine_once():
    inner = ScriptedEngine(lambda r: "answer " + r.messages[-1]["content"])
    engine = CachedEngine(inner)
    batch = [req("a"), req("b"), req("a"), req("c"), req("b")]
    replies = engine.generate(batch, PARAMS)
    assert [r.messages[-1]["content"] for r in inner.calls[0][1]] == ["a", "b", "c"] and len(inner.calls) == 1
    assert [r.text for r in replies] == ["answer a", "answer b", "answer a", "answer c", "answer b"]
    assert [r.cached for r in replies] == [False, False, True, False, True]
    assert engine.stats.misses == 3 and engine.stats.hits == 2 and engine.stats.coalesced == 2


def test_duplicates_in_one_async_batch_and_choices():
    inner = ScriptedEngine(lambda r: "x", lambda r, choices: {c: -1.0 for c in choices})
    engine = CachedEngine(inner)
    batch = [req("a"), req("a"), req("b")]
    replies = asyncio.run(engine.agenerate(batch, PARAMS))
    assert [len(reqs) for _, reqs in inner.calls] == [2] and [r.cached for r in replies] == [False, True, False]
    scores = engine.choice_logprobs(batch, ["yes", "no"])
    assert [len(reqs) for _, reqs in inner.calls] == [2, 2] and scores[0].logprobs == scores[1].logprobs


class AttentionEngine(ScriptedEngine):
    def attention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        self._record("attention", requests)  # type: ignore[arg-type]
        return [AttentionReadout(weights=[[[float(len(s))] for s in r.segments]], tokens=[list(r.segments)])
                for r in requests]


def test_attention_duplicates_sync_and_async():
    inner = AttentionEngine()
    engine = CachedEngine(inner)
    a, b = AttentionRequest(("x", "yy"), ("q",)), AttentionRequest(("zzz",), ("q",))
    out = engine.attention([a, b, a])
    assert [len(reqs) for _, reqs in inner.calls] == [2] and out[2].weights == out[0].weights and out[2].cached
    again = asyncio.run(engine.aattention([b, AttentionRequest(("w",), ("q",)), b]))
    assert [len(reqs) for _, reqs in inner.calls] == [2, 1] and again[0].cached and again[2].cached


def test_leader_error_reaches_the_waiter_and_is_not_stored():
    inner = GatedEngine()
    inner.fail = True
    engine = CachedEngine(inner)
    out = same_request_twice(engine, inner)
    assert len(inner.calls) == 1
    assert all(isinstance(o, EngineError) and "server down" in str(o) for o in out)
    assert engine.flights.in_flight() == 0
    inner.fail = False
    assert engine.generate([REQ], PARAMS)[0].text == "answer hello" and len(inner.calls) == 2


def test_cancelled_leader_lets_the_waiter_retry():
    inner = GatedEngine()
    engine = CachedEngine(inner)

    async def main() -> Generation:
        leader = asyncio.create_task(engine.agenerate([REQ], PARAMS))
        while not inner.entered.is_set():
            await asyncio.sleep(0.002)
        waiter = asyncio.create_task(engine.agenerate([REQ], PARAMS))
        while not second_arrived(engine, inner):
            await asyncio.sleep(0.002)
        assert len(inner.calls) == 1  # the waiter waits on the leader
        leader.cancel()  # e.g. its HTTP request timed out: not the waiter's failure
        with pytest.raises(asyncio.CancelledError):
            await leader
        while len(inner.calls) < 2:
            await asyncio.sleep(0.002)
        inner.release.set()
        return (await waiter)[0]

    reply = asyncio.run(main())
    assert reply.text == "answer hello" and len(inner.calls) == 2 and engine.flights.in_flight() == 0


def test_sampled_requests_are_not_coalesced():
    inner = GatedEngine()
    engine = CachedEngine(inner)
    hot = SamplingParams(max_tokens=8, temperature=0.7)
    threads, _ = in_threads(lambda: engine.generate([REQ], hot), lambda: engine.generate([REQ], hot))
    for t in threads:
        t.start()
    until(lambda: len(inner.calls) == 2)
    inner.release.set()
    for t in threads:
        t.join(30)
    assert engine.stats.bypassed == 2 and engine.stats.coalesced == 0


def test_overlapping_batches_in_many_threads_compute_each_key_once():
    # Batches sharing keys in different orders: every caller leads some keys and waits on
    # others; none may deadlock, and each key reaches the engine once.
    inner = ScriptedEngine(lambda r: "answer " + r.messages[-1]["content"], delay_fn=lambda r: 0.002)
    engine = CachedEngine(inner)
    calls = [(lambda i=i: engine.generate([req(str((i * 7 + j) % 12)) for j in range(6)], PARAMS))
             for i in range(16)]
    threads, out = in_threads(*calls)
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    for i, replies in enumerate(out):
        assert [r.text for r in replies] == [f"answer {(i * 7 + j) % 12}" for j in range(6)]  # type: ignore[attr-defined]
    sent = [r.messages[-1]["content"] for _, reqs in inner.calls for r in reqs]
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 12
    stats = engine.stats
    assert stats.misses == 12 and stats.hits == 16 * 6 - 12


def test_sync_call_inside_the_leaders_loop_does_not_wait_on_it():
    # A sync call made from a coroutine blocks its loop: waiting there on a coroutine of that
    # same loop could never end, so it calls the engine itself.
    inner = GatedEngine()
    engine = CachedEngine(inner)

    async def main() -> tuple[Generation, Generation]:
        leader = asyncio.create_task(engine.agenerate([REQ], PARAMS))
        while not inner.entered.is_set():
            await asyncio.sleep(0.002)
        threading.Timer(0.05, inner.release.set).start()
        blocking = engine.generate([REQ], PARAMS)[0]  # blocks the loop until released
        return blocking, (await leader)[0]

    threads, out = in_threads(lambda: asyncio.run(main()))
    threads[0].start()
    threads[0].join(30)
    assert not threads[0].is_alive(), "deadlocked"
    blocking, led = out[0]  # type: ignore[misc]
    assert blocking.text == led.text == "answer hello" and len(inner.calls) == 2
