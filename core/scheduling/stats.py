"""What a scheduled run cost, and the helpers both drivers share to call the engine."""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reasonrank.engines.base import Engine
from reasonrank.errors import EngineError, InvalidInputError, as_engine_error
from reasonrank.scheduling.steps import Step


@dataclass
class SchedulerStats:
    """What a run cost: engine calls, requests, wall time and the time the engine was busy.

    ``busy_seconds`` is the time at least one request was in flight (union of call intervals);
    ``busy_fraction`` = busy / wall. ``in_flight_seconds`` integrates the number of requests in
    flight over time (benchmarks divide it by the wall time: mean occupancy). ``submissions``
    lists ``(job index, seconds since start)`` in submission order, the job index being the
    top-level job (the query) a request belongs to: tests use it to check that slow jobs do not
    block fast ones. ``calls_by_kind`` counts engine calls per request kind; ``prompt_tokens`` and
    ``completion_tokens`` sum what the engine reported (what evaluation meters).
    """

    calls: int = 0
    requests: int = 0
    wall_seconds: float = 0.0
    busy_seconds: float = 0.0
    max_in_flight: int = 0
    in_flight_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls_by_kind: dict[str, int] = field(default_factory=dict)
    submissions: list[tuple[int, float]] = field(default_factory=list)

    @property
    def busy_fraction(self) -> float:
        return self.busy_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def add(self, other: SchedulerStats) -> SchedulerStats:
        """Accumulate a later run's stats into these (runs one after the other: an evaluation's
        batches); returns ``self``."""
        for name in ("calls", "requests", "wall_seconds", "busy_seconds", "in_flight_seconds",
                     "prompt_tokens", "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_in_flight = max(self.max_in_flight, other.max_in_flight)
        for kind, n in other.calls_by_kind.items():
            self.calls_by_kind[kind] = self.calls_by_kind.get(kind, 0) + n
        return self


class Busy:
    """Tracks in-flight requests to measure the union of busy intervals (thread-safe)."""

    def __init__(self, stats: SchedulerStats) -> None:
        self.stats = stats
        self.t0 = time.perf_counter()
        self.in_flight = 0
        self.since = 0.0
        self.last = self.t0
        self.lock = threading.Lock()

    def start(self, job_ids: Sequence[int], kind: str = "generate") -> None:
        with self.lock:
            now = time.perf_counter()
            self._integrate(now)
            if self.in_flight == 0:
                self.since = now
            self.in_flight += len(job_ids)
            s = self.stats
            s.max_in_flight = max(s.max_in_flight, self.in_flight)
            s.calls += 1
            s.calls_by_kind[kind] = s.calls_by_kind.get(kind, 0) + 1
            s.requests += len(job_ids)
            s.submissions.extend((j, now - self.t0) for j in job_ids)

    def end(self, replies: Sequence[Any] | int) -> None:
        """Requests came back: their replies (tokens are summed), or just how many."""
        if isinstance(replies, int):
            replies = [None] * replies
        with self.lock:
            now = time.perf_counter()
            self._integrate(now)
            self.in_flight -= len(replies)
            if self.in_flight == 0:
                self.stats.busy_seconds += now - self.since
            for r in replies:
                self.stats.prompt_tokens += getattr(r, "prompt_tokens", 0)
                self.stats.completion_tokens += getattr(r, "completion_tokens", 0)

    def _integrate(self, now: float) -> None:
        self.stats.in_flight_seconds += self.in_flight * (now - self.last)
        self.last = now

    def finish(self) -> None:
        self.stats.wall_seconds = time.perf_counter() - self.t0


def reply_error(exc: BaseException) -> Exception:
    """What a failed request hands its job: the caller's own mistake (:class:`InvalidInputError`,
    e.g. a layer the model does not have) as it is, any other failure as :class:`EngineError`
    (the one type the ``on_error`` policy handles)."""
    return exc if isinstance(exc, InvalidInputError) else as_engine_error(exc)


def timed(replies: list[Any], seconds: float) -> list[Any]:
    """Replies of engines that do not time requests get the call's wall time."""
    for r in replies:
        if not r.seconds:
            r.seconds = seconds
    return replies


def checked(out: Sequence[Any], n: int) -> list[Any]:
    """The engine's replies, which must be one per request."""
    if len(out) != n:
        raise EngineError(f"engine returned {len(out)} results for {n} requests")
    return list(out)


def call_isolated(engine: Engine, steps: list[Step]) -> list[Any]:
    """One engine call for compatible ``steps``; if it fails, each step is tried alone, so one
    bad request (too long, a crash on its input) fails only its own job, not the whole batch.
    Failures come back as values (see :func:`reply_error`)."""
    t0 = time.perf_counter()
    try:
        out = checked(steps[0].call(engine, [s.request for s in steps]), len(steps))
        return timed(out, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - every engine failure goes to its jobs
        if len(steps) == 1:
            return [reply_error(exc)]
    return [call_isolated(engine, [s])[0] for s in steps]
