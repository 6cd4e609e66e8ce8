"""Single flight: identical work in flight is done once, and every caller gets its outcome.

One :class:`SingleFlight` coalesces by key, across threads and event loops. A caller *claims* a
batch of keys (:meth:`SingleFlight.claim`): the keys no one is computing become its own to
*lead* (it computes them and :meth:`~SingleFlight.settle` s each with the outcome); for the keys
another caller leads it gets a future to wait on. Used by the engine-reply cache
(:class:`~reasonrank.cache.replies.CachedEngine`: a request that another caller is sending
waits for that reply) and by the whole-result memo (:mod:`reasonrank.cache.results`: a repeated
query that arrives while its original runs waits for its result instead of preparing twice).

The rules that keep it deadlock-free and honest:

- A caller computes and settles everything it leads *before* it waits on anyone, and it never
  waits on its own flights, so no cycle can form.
- A sync caller never waits on a flight led by a coroutine of the event loop it is blocking
  (that coroutine could not run): such a key is handed to it as *solo* work — it computes it
  without publishing it.
- A leader's failure is every waiter's failure (the same exception); a leader that is cancelled
  or interrupted instead (a ``serve`` request timing out) *abandons* its flights, and the
  waiters compute the work themselves (:class:`Abandoned`) rather than fail with another
  caller's cancellation.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Abandoned(Exception):
    """The leader of a flight gave up (cancelled, timed out, interrupted): compute it yourself."""


@dataclass(eq=False)
class _Flight(Generic[V]):
    future: Future[V]
    loop: asyncio.AbstractEventLoop | None  # the leader's event loop, when the leader is a coroutine
    waiters: int = 0


@dataclass
class Claim(Generic[K, V]):
    """One caller's share of a batch of keys: ``lead`` (it computes them and settles each),
    ``solo`` (in flight elsewhere but not waitable from here: it computes them, unpublished)
    and ``waits`` (another caller computes them: their futures)."""

    lead: set[K] = field(default_factory=set)
    solo: set[K] = field(default_factory=set)
    waits: dict[K, Future[V]] = field(default_factory=dict)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class SingleFlight(Generic[K, V]):
    """The flights in progress, by key (see the module docstring).

    ``abandons(exc)`` says which of a leader's failures are its own and not the work's (its
    waiters then retry instead of failing): by default anything that is not an ``Exception``
    (``CancelledError``, ``KeyboardInterrupt``).
    """

    def __init__(self, abandons: Callable[[BaseException], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._flights: dict[K, _Flight[V]] = {}
        self._abandons = abandons or (lambda exc: not isinstance(exc, Exception))

    def claim(self, keys: Iterable[K], *, blocking: bool) -> Claim[K, V]:
        """Lead every key no one is computing; wait on the others. ``blocking``: the caller is
        sync code (it must not wait on a coroutine of the loop it blocks)."""
        claim: Claim[K, V] = Claim()
        loop = running_loop()
        with self._lock:
            for key in keys:
                flight = self._flights.get(key)
                if flight is None:
                    future: Future[V] = Future()
                    future.set_running_or_notify_cancel()  # a waiter's cancel() must not reach the others
                    self._flights[key] = _Flight(future, None if blocking else loop)
                    claim.lead.add(key)
                elif blocking and flight.loop is not None and flight.loop is loop:
                    claim.solo.add(key)
                else:
                    flight.waiters += 1
                    claim.waits[key] = flight.future
        return claim

    def settle(self, key: K, outcome: V | BaseException) -> None:
        """End the caller's flight of ``key``: its waiters get ``outcome`` (a value, or the
        failure, which becomes :class:`Abandoned` where it is the leader's own)."""
        with self._lock:
            flight = self._flights.pop(key, None)
        if flight is None:
            return
        if isinstance(outcome, BaseException):
            flight.future.set_exception(Abandoned() if self._abandons(outcome) else outcome)
        else:
            flight.future.set_result(outcome)

    def fail(self, keys: Iterable[K], exc: BaseException) -> None:
        """End every flight in ``keys`` still open with ``exc`` (the caller's work failed)."""
        for key in list(keys):
            self.settle(key, exc)

    def in_flight(self) -> int:
        """How many keys are being computed now."""
        with self._lock:
            return len(self._flights)

    def waiting(self) -> int:
        """How many callers wait on a flight now (tests and ``/v1/stats`` read it)."""
        with self._lock:
            return sum(f.waiters for f in self._flights.values())

    @staticmethod
    def wait(future: Future[V]) -> V:
        """The outcome of another caller's flight, from sync code (raises :class:`Abandoned`)."""
        return future.result()

    @staticmethod
    async def await_(future: Future[V]) -> V:
        """The outcome of another caller's flight, from a coroutine: the leader may be a thread
        or a coroutine of any loop (raises :class:`Abandoned`)."""
        return await asyncio.wrap_future(future)


__all__ = ["Abandoned", "Claim", "SingleFlight", "running_loop"]
