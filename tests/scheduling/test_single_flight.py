"""SingleFlight on its own: who leads, who waits, what a waiter gets when the leader fails or
gives up, and the sync-caller-on-the-loop rule."""
from __future__ import annotations

import asyncio
import threading

import pytest
from reasonrank.scheduling.single_flight import Abandoned, SingleFlight


def test_first_claim_leads_second_waits_and_gets_the_value():
    flights: SingleFlight[str, int] = SingleFlight()
    first = flights.claim(["a", "b"], blocking=True)
    second = flights.claim(["b", "c"], blocking=True)
    assert first.lead == {"a", "b"} and not first.waits
    assert second.lead == {"c"} and set(second.waits) == {"b"}
    assert flights.in_flight() == 3 and flights.waiting() == 1
    flights.settle("b", 42)
    assert SingleFlight.wait(second.waits["b"]) == 42
    flights.settle("a", 1)
    flights.settle("c", 2)
    assert flights.in_flight() == 0 and flights.waiting() == 0


def test_a_settled_key_is_claimable_again():
    flights: SingleFlight[str, int] = SingleFlight()
    flights.claim(["k"], blocking=True)
    flights.settle("k", 1)
    assert flights.claim(["k"], blocking=True).lead == {"k"}


def test_the_leaders_error_is_the_waiters_error():
    flights: SingleFlight[str, int] = SingleFlight()
    flights.claim(["k"], blocking=True)
    waiter = flights.claim(["k"], blocking=True)
    flights.fail(["k"], ValueError("server down"))
    with pytest.raises(ValueError, match="server down"):
        SingleFlight.wait(waiter.waits["k"])


def test_a_cancelled_leader_abandons_and_its_waiters_compute_themselves():
    flights: SingleFlight[str, int] = SingleFlight()
    flights.claim(["k"], blocking=True)
    waiter = flights.claim(["k"], blocking=True)
    flights.settle("k", asyncio.CancelledError())
    with pytest.raises(Abandoned):
        SingleFlight.wait(waiter.waits["k"])


def test_abandons_is_configurable():
    class Timeout(Exception):
        pass

    flights: SingleFlight[str, int] = SingleFlight(abandons=lambda exc: isinstance(exc, Timeout))
    flights.claim(["k"], blocking=True)
    waiter = flights.claim(["k"], blocking=True)
    flights.settle("k", Timeout())
    with pytest.raises(Abandoned):
        SingleFlight.wait(waiter.waits["k"])


def test_waiters_in_threads_all_get_the_one_value():
    flights: SingleFlight[str, str] = SingleFlight()
    flights.claim(["k"], blocking=True)
    got: list[str] = []
    claims = [flights.claim(["k"], blocking=True) for _ in range(4)]
    threads = [threading.Thread(target=lambda c=c: got.append(SingleFlight.wait(c.waits["k"])), daemon=True)
               for c in claims]
    for t in threads:
        t.start()
    flights.settle("k", "reply")
    for t in threads:
        t.join(10)
    assert got == ["reply"] * 4


async def test_a_coroutine_waits_on_a_thread_leader_without_blocking_the_loop():
    flights: SingleFlight[str, str] = SingleFlight()
    flights.claim(["k"], blocking=True)  # a thread leads
    waiter = flights.claim(["k"], blocking=False)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    def settle_once_the_loop_ran() -> None:  # the leader ends only after the waiting loop ticked
        for _ in range(5000):
            if ticks >= 3:
                break
            threading.Event().wait(0.002)
        flights.settle("k", "from a thread")

    ticker = asyncio.create_task(tick())
    threading.Thread(target=settle_once_the_loop_ran, daemon=True).start()
    assert await asyncio.wait_for(SingleFlight.await_(waiter.waits["k"]), 20) == "from a thread"
    ticker.cancel()
    assert ticks >= 3  # the loop ran while it waited


async def test_a_sync_caller_on_the_leaders_loop_computes_alone():
    # A coroutine of this loop leads; sync code running on the same thread would block the loop
    # the leader needs, so it is handed the key as solo work instead of a future.
    flights: SingleFlight[str, int] = SingleFlight()
    assert flights.claim(["k"], blocking=False).lead == {"k"}
    sync_claim = flights.claim(["k"], blocking=True)
    assert sync_claim.solo == {"k"} and not sync_claim.waits and not sync_claim.lead
    flights.settle("k", 1)
