"""The two drivers of reasonrank.scheduling on a scripted engine: every request kind, forks,
batching by kind and settings, failure isolation, and the same results sync and async."""
from __future__ import annotations

import asyncio

import pytest
from reasonrank.engines.base import AttentionReadout, AttentionRequest, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError
from reasonrank.scheduling import (
    Attend,
    Fork,
    Generate,
    SchedulerStats,
    ScoreChoices,
    gather,
    run_async,
    run_batched,
)
from scheduling_helpers import P, req, shout


class AttentionScripted(ScriptedEngine):
    """A scripted engine that also answers attention requests (one weight per segment)."""

    supports_attention = True

    def attention(self, requests):
        self._record("attention", requests)
        return [AttentionReadout(weights=[[[float(len(s))] for s in r.segments] for _ in r.probes],
                                 tokens=[[s] for s in r.segments]) for r in requests]


def engine(**kw) -> AttentionScripted:
    return AttentionScripted(shout, lambda r, c: {x: -float(i) for i, x in enumerate(c)}, **kw)


def pair(query: str, i: int):
    """Two dependent steps of different kinds."""
    gen = yield Generate(req(f"{query}-{i}"), P)
    dist = yield ScoreChoices(req(gen.text), ("yes", "no"))
    return gen.text, round(dist.probs["yes"], 3)


def query_job(query: str, n: int):
    pairs = yield Fork(tuple(pair(query, i) for i in range(n)))
    readout = yield Attend(AttentionRequest(("ab", "c"), (query,)))
    final = yield req(f"done {query}")  # a bare ChatRequest: the driver's default params
    return pairs, readout.weights[0], final.text


EXPECTED = [
    ([("X-0", 0.731), ("X-1", 0.731), ("X-2", 0.731)], [[2.0], [1.0]], "DONE X"),
    ([("Y-0", 0.731), ("Y-1", 0.731)], [[2.0], [1.0]], "DONE Y"),
]


def test_sync_driver_batches_every_kind_across_jobs():
    eng = engine(max_batch_size=4, max_concurrency=1)
    stats = SchedulerStats()
    out = run_batched([query_job("x", 3), query_job("y", 2)], eng, P, stats=stats)
    assert out == EXPECTED
    # 5 thoughts in calls of <= 4, then the 5 choice readings, 2 attention reads, 2 finals
    assert [(k, len(r)) for k, r in eng.calls] == [
        ("generate", 4), ("generate", 1), ("choice_logprobs", 4), ("choice_logprobs", 1),
        ("attention", 2), ("generate", 2)]
    assert stats.calls_by_kind == {"generate": 3, "choice_logprobs": 2, "attention": 1}
    assert stats.requests == 14 and stats.max_in_flight == 4
    assert {j for j, _ in stats.submissions} == {0, 1}  # recorded by top-level job


def test_async_driver_gives_the_same_results_and_uses_every_async_method():
    eng = engine(max_concurrency=3)
    stats = SchedulerStats()
    out = asyncio.run(run_async([query_job("x", 3), query_job("y", 2)], eng, P, stats=stats))
    assert out == EXPECTED
    assert stats.calls == stats.requests == 14 and 1 < stats.max_in_flight <= 3
    assert {k for k, _ in eng.calls} == {"agenerate", "choice_logprobs", "attention"}


def test_requests_with_other_settings_never_share_a_call():
    other = SamplingParams(max_tokens=3)

    def job(i: int):
        return (yield Generate(req(str(i)), P if i % 2 else other)).text

    eng = engine(max_batch_size=8, max_concurrency=1)
    assert run_batched([job(i) for i in range(6)], eng) == [str(i) for i in range(6)]
    assert [len(r) for _, r in eng.calls] == [3, 3]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failing_request_fails_only_its_job(mode: str):
    class Flaky(ScriptedEngine):  # _one answers each request, sync and async
        def _one(self, request, params):
            if "bad" in request.messages[0]["content"]:
                raise RuntimeError("boom")
            return super()._one(request, params)

    def job(text: str):
        try:
            return (yield Generate(req(text), P)).text
        except EngineError as exc:
            return f"error: {exc}"

    eng = Flaky(lambda r: "ok", max_batch_size=8, max_concurrency=1 if mode == "sync" else 4)
    jobs = [job("a"), job("bad"), job("c")]
    out = run_batched(jobs, eng) if mode == "sync" else asyncio.run(run_async(jobs, eng))
    assert out == ["ok", "error: RuntimeError: boom", "ok"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_sub_job_that_raises_cancels_its_siblings(mode: str):
    sent: list[str] = []

    def child(i: int):
        if i == 2:
            raise EngineError("no request for you")
        gen = yield Generate(req(str(i)), P)
        sent.append(gen.text)
        gen = yield Generate(req(f"{i} again"), P)  # never sent: the fork failed meanwhile
        sent.append(gen.text)
        return gen.text

    def parent():
        try:
            yield Fork(tuple(child(i) for i in range(4)))
        except EngineError as exc:
            return f"caught: {exc}"
        return "not reached"

    eng = engine(max_concurrency=1 if mode == "sync" else 4, delay_fn=lambda r: 0.05)
    out = run_batched([parent()], eng) if mode == "sync" else asyncio.run(run_async([parent()], eng))
    assert out == ["caught: no request for you"]
    assert sent == [] and not any("again" in r.messages[0]["content"] for _, b in eng.calls for r in b)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gather_returns_failures_in_place_and_empty_forks_return_at_once(mode: str):
    class Picky(ScriptedEngine):
        def _one(self, request, params):
            if request.messages[0]["content"] == "b":
                raise EngineError("not b")
            return super()._one(request, params)

    def job():
        replies = yield gather([Generate(req(t), P) for t in "abc"])
        nothing = yield Fork(())
        return [r.text if not isinstance(r, EngineError) else str(r) for r in replies], nothing

    eng = Picky(lambda r: r.messages[0]["content"], max_concurrency=1 if mode == "sync" else 4)
    out = run_batched([job()], eng) if mode == "sync" else asyncio.run(run_async([job()], eng))
    assert out == [(["a", "not b", "c"], [])]


def test_a_top_level_error_ends_the_run_and_closes_every_job():
    closed: list[int] = []

    def job(i: int):
        try:
            yield Generate(req(str(i)), P)
            if i == 0:
                raise ValueError("bug")
            yield Generate(req("more"), P)
        finally:
            closed.append(i)

    with pytest.raises(ValueError, match="bug"):
        run_batched([job(0), job(1)], engine(max_batch_size=1, max_concurrency=1))
    assert sorted(closed) == [0, 1]


def test_a_yield_that_is_not_a_step_is_a_clear_error():
    def job():
        yield "not a request"

    with pytest.raises(TypeError, match="not a step"):
        run_batched([job()], engine())
