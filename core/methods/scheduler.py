"""Cross-query scheduling of multi-step reranking jobs, reusable by any method.

A *job* is a generator that yields the next :class:`ChatRequest` it needs, receives the
:class:`Generation` back (or has an :class:`EngineError` thrown in), and finally returns its
result. Listwise reranking is one job per query walking its windows; setwise could be one job
per query walking its tournament. The scheduler keeps the engine busy without lockstep:

* :func:`run_async` (engines with ``max_concurrency > 1``: OpenAI-compatible servers, vLLM's
  async engine) drives one task per job; the moment a job's request returns, its next one is
  submitted, with at most ``max_concurrency`` requests in flight. No job waits for the slowest
  window of a "step".
* :func:`run_batched` (sync batch engines: transformers, vLLM's ``LLM``) gathers the ready
  requests of all jobs into engine calls of up to ``max_batch_size``; a job whose request was in
  a call becomes ready again when that call returns.

Compare castorini/rank_llm ``listwise_rankllm.py`` (``sliding_windows_batched`` on main), which
pipelines windows through a shared work queue; here the same idea is method-agnostic.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reasonrank.engines.base import ChatRequest, Engine, Generation, SamplingParams
from reasonrank.errors import EngineError

R = TypeVar("R")
Job = Generator[ChatRequest, Generation, R]
StepCallback = Callable[[int], None]


@dataclass
class SchedulerStats:
    """What a run cost: engine calls, requests, wall time and the time the engine was busy.

    ``busy_seconds`` is the time at least one request was in flight (union of call intervals);
    ``busy_fraction`` = busy / wall. ``submissions`` lists ``(job index, seconds since start)``
    in submission order (tests use it to check that slow jobs do not block fast ones).
    """

    calls: int = 0
    requests: int = 0
    wall_seconds: float = 0.0
    busy_seconds: float = 0.0
    max_in_flight: int = 0
    in_flight_seconds: float = 0.0  # integral of the number in flight over time
    submissions: list[tuple[int, float]] = field(default_factory=list)

    @property
    def busy_fraction(self) -> float:
        return self.busy_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def mean_in_flight(self) -> float:
        """Time-averaged number of requests in flight (engine occupancy)."""
        return self.in_flight_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


class _Busy:
    """Tracks in-flight requests to measure the union of busy intervals (thread-safe)."""

    def __init__(self, stats: SchedulerStats) -> None:
        self.stats = stats
        self.t0 = time.perf_counter()
        self.in_flight = 0
        self.since = 0.0
        self.last = self.t0
        self.lock = threading.Lock()

    def start(self, job_ids: Sequence[int]) -> None:
        with self.lock:
            now = time.perf_counter()
            self._integrate(now)
            if self.in_flight == 0:
                self.since = now
            self.in_flight += len(job_ids)
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.in_flight)
            self.stats.calls += 1
            self.stats.requests += len(job_ids)
            self.stats.submissions.extend((j, now - self.t0) for j in job_ids)

    def end(self, n: int) -> None:
        with self.lock:
            now = time.perf_counter()
            self._integrate(now)
            self.in_flight -= n
            if self.in_flight == 0:
                self.stats.busy_seconds += now - self.since

    def _integrate(self, now: float) -> None:
        self.stats.in_flight_seconds += self.in_flight * (now - self.last)
        self.last = now

    def finish(self) -> None:
        self.stats.wall_seconds = time.perf_counter() - self.t0


def as_engine_error(exc: BaseException) -> EngineError:
    """Engine failures of any type, as :class:`EngineError` (keeping the cause)."""
    if isinstance(exc, EngineError):
        return exc
    err = EngineError(f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def _advance(job: Job, value: Generation | EngineError | None) -> tuple[bool, Any]:
    """Send ``value`` into ``job`` (or throw it); returns (done, next request or result)."""
    try:
        if value is None:
            return False, next(job)
        if isinstance(value, EngineError):
            return False, job.throw(value)
        return False, job.send(value)
    except StopIteration as stop:
        return True, stop.value


def _timed(gens: list[Generation], seconds: float) -> list[Generation]:
    for g in gens:
        if not g.seconds:
            g.seconds = seconds  # engines that do not time requests get the call's wall time
    return gens


def _generate_isolated(
    engine: Engine, requests: list[ChatRequest], params: SamplingParams, t0: float
) -> list[Generation | EngineError]:
    """One engine call for ``requests``; if it fails, each request is tried alone, so one bad
    request (too long, a crash on its input) fails only its own job, not the whole batch."""
    try:
        gens = engine.generate(requests, params)
        if len(gens) != len(requests):
            raise EngineError(f"engine returned {len(gens)} generations for {len(requests)} requests")
        return list(_timed(list(gens), time.perf_counter() - t0))
    except Exception as exc:  # noqa: BLE001 - every engine failure goes to its jobs
        if len(requests) == 1:
            return [as_engine_error(exc)]
    return [_generate_isolated(engine, [req], params, time.perf_counter())[0] for req in requests]


def run_batched(
    jobs: Sequence[Job],
    engine: Engine,
    params: SamplingParams,
    *,
    max_batch_size: int | None = None,
    stats: SchedulerStats | None = None,
    on_step: StepCallback | None = None,
) -> list[Any]:
    """Drive ``jobs`` on a sync engine, batching the ready requests of all jobs per call."""
    batch_size = max(1, max_batch_size or engine.max_batch_size or 1)
    stats = stats if stats is not None else SchedulerStats()
    busy = _Busy(stats)
    results: list[Any] = [None] * len(jobs)
    ready: deque[tuple[int, ChatRequest]] = deque()
    try:
        for i, job in enumerate(jobs):
            done, out = _advance(job, None)
            if done:
                results[i] = out
            else:
                ready.append((i, out))
        while ready:
            batch = [ready.popleft() for _ in range(min(batch_size, len(ready)))]
            busy.start([i for i, _ in batch])
            t0 = time.perf_counter()
            replies: list[Generation | EngineError]
            try:
                replies = _generate_isolated(engine, [req for _, req in batch], params, t0)
            finally:
                busy.end(len(batch))
            for (i, _), reply in zip(batch, replies):
                done, out = _advance(jobs[i], reply)
                if on_step:
                    on_step(1)
                if done:
                    results[i] = out
                else:
                    ready.append((i, out))
    finally:
        busy.finish()
        for job in jobs:
            job.close()
    return results


async def run_async(
    jobs: Sequence[Job],
    engine: Engine,
    params: SamplingParams,
    *,
    max_concurrency: int | None = None,
    stats: SchedulerStats | None = None,
    on_step: StepCallback | None = None,
) -> list[Any]:
    """Drive ``jobs`` concurrently: each job's next request goes out when its last returns."""
    limit = max(1, max_concurrency or engine.max_concurrency or 1)
    stats = stats if stats is not None else SchedulerStats()
    busy = _Busy(stats)
    gate = asyncio.Semaphore(limit)

    async def drive(i: int, job: Job) -> Any:
        done, out = _advance(job, None)
        while not done:
            async with gate:
                busy.start([i])
                t0 = time.perf_counter()
                reply: Generation | EngineError
                try:
                    gens = await engine.agenerate([out], params)
                    if len(gens) != 1:
                        raise EngineError(f"engine returned {len(gens)} generations for 1 request")
                    reply = _timed(list(gens), time.perf_counter() - t0)[0]
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    reply = as_engine_error(exc)
                finally:
                    busy.end(1)
            done, out = _advance(job, reply)
            if on_step:
                on_step(1)
        return out

    tasks = [asyncio.ensure_future(drive(i, job)) for i, job in enumerate(jobs)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # first failure wins (on_error="raise"): stop the other jobs' windows
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        busy.finish()
        for job in jobs:
            job.close()


def run_coroutine(coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` to completion from sync code, even inside a running event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="reasonrank-scheduler")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
