"""Admission at the door: at most ``max_in_flight`` reranks running, ``queue_limit`` waiting."""
from __future__ import annotations

import asyncio


class Overloaded(Exception):
    """Every slot is taken and the queue is full: answer 429."""


class Admission:
    """A counting gate with a bounded waiting room (one event loop; no thread safety needed).

    ``acquire`` takes a slot, waiting if the queue has room, else raises :class:`Overloaded`.
    ``max_in_flight_seen`` lets tests check the bound held.
    """

    def __init__(self, max_in_flight: int, queue_limit: int) -> None:
        self.max_in_flight = max_in_flight
        self.queue_limit = queue_limit
        self.in_flight = 0
        self.waiting = 0
        self.max_in_flight_seen = 0
        self.rejected = 0
        self._slots = asyncio.Semaphore(max_in_flight)

    async def acquire(self) -> None:
        if self.in_flight >= self.max_in_flight and self.waiting >= self.queue_limit:
            self.rejected += 1
            raise Overloaded(f"{self.in_flight} requests in flight and {self.waiting} queued")
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1
        self._slots.release()

    def to_dict(self) -> dict[str, int]:
        return {"in_flight": self.in_flight, "waiting": self.waiting, "max_in_flight": self.max_in_flight,
                "queue_limit": self.queue_limit, "max_in_flight_seen": self.max_in_flight_seen,
                "rejected": self.rejected}
