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


class BusyClock:
    """The time at least one request was in flight: the union of call intervals, whatever
    overlaps (thread-safe). The one busy-time meter of the scheduler, the shared engine and
    evaluation's engine meter."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._since = 0.0
        self._closed = 0.0  # busy seconds of the stretches already over
        self._lock = threading.Lock()

    def start(self, n: int = 1) -> None:
        """``n`` requests went in flight."""
        with self._lock:
            if self.in_flight == 0:
                self._since = time.perf_counter()
            self.in_flight += n

    def end(self, n: int = 1) -> None:
        """``n`` requests came back."""
        with self._lock:
            self.in_flight -= n
            if self.in_flight == 0:
                self._closed += time.perf_counter() - self._since

    @property
    def seconds(self) -> float:
        """Busy seconds so far (a stretch still open counts up to now)."""
        with self._lock:
            open_stretch = time.perf_counter() - self._since if self.in_flight else 0.0
            return self._closed + open_stretch

    def reset(self) -> None:
        with self._lock:
            self._closed = 0.0
            if self.in_flight:
                self._since = time.perf_counter()


class Busy:
    """A run's engine accounting: calls, requests, tokens, requests in flight over time, and the
    busy time (a :class:`BusyClock`) into its :class:`SchedulerStats` (thread-safe)."""

    def __init__(self, stats: SchedulerStats) -> None:
        self.stats = stats
        self.t0 = time.perf_counter()
        self.clock = BusyClock()
        self._busy_before = stats.busy_seconds  # stats handed in may hold earlier runs' time
        self.last = self.t0
        self.lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self.clock.in_flight

    def start(self, job_ids: Sequence[int], kind: str = "generate") -> None:
        with self.lock:
            now = time.perf_counter()
            self._integrate(now)
            self.clock.start(len(job_ids))
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
            self._integrate(time.perf_counter())
            self.clock.end(len(replies))
            self.stats.busy_seconds = self._busy_before + self.clock.seconds
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
