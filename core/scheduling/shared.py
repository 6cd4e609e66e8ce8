"""One engine shared by many concurrent reranks: cross-request (continuous) batching.

:mod:`reasonrank.scheduling` pipelines the jobs of *one* ``rerank_batch`` call. A
service answers many independent calls at once (one per HTTP request); run side by side,
each call would drive the engine on its own: a sync batch engine would see many one-window
calls in a row, an async server many uncoordinated gates. :class:`SharedEngine` sits between
the methods and the real engine, so every method keeps its own job schedule
(``run_batched`` / ``run_async``, unchanged) while the engine is shared:

* **sync batch engines** (transformers, vLLM's ``LLM``, llama.cpp; ``max_concurrency == 1``):
  each caller's ``generate`` / ``choice_logprobs`` / ``attention`` call enqueues its requests and
  waits; one background dispatcher thread gathers the ready requests of *all* callers (FIFO,
  grouped by kind and sampling settings or choice set) into engine calls of up to
  ``max_batch_size``. The moment
  a call returns, its callers' jobs advance and their next windows join the queue, so windows
  of different HTTP requests share engine calls with no lockstep (continuous batching).
* **async engines** (OpenAI-compatible servers, ``max_concurrency > 1``): every request of
  every caller goes through one gate of ``max_concurrency`` on the service's event loop, so
  the bound holds across callers and the server batches whatever is in flight.

Sharing sits at the engine boundary (an engine layer, composed when the reranker is built), so
it serves every method and the scheduler inside each call stays as it is. Each caller tags its work with a :class:`Ticket` (a context variable), which the stats use
to show windows of different requests in one engine call and which lets a timed-out request
drop its queued windows.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from reasonrank.engines import base  # the protocol's types, as base.X
from reasonrank.errors import EngineError, as_engine_error
from reasonrank.scheduling.layers import EngineWrapper
from reasonrank.scheduling.stats import BusyClock, checked, timed
from reasonrank.scheduling.steps import Attend, Encode, Generate, ScoreChoices, Step, take_batch

T = TypeVar("T")
_ids = itertools.count(1)


@dataclass(eq=False)
class Ticket:
    """Who a piece of engine work belongs to (one HTTP request, one caller)."""

    id: str = field(default_factory=lambda: f"t{next(_ids)}")
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Drop this caller's requests that have not reached the engine yet."""
        self.cancelled.set()


current_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar(
    "reasonrank_ticket", default=None
)
_ANON = Ticket(id="anonymous")


class RequestCancelled(EngineError):
    """The caller's ticket was cancelled (its HTTP request timed out) before the engine ran."""


@dataclass
class SharedStats:
    """What the shared engine did since start-up (all callers together).

    ``mixed_calls`` counts engine calls that carried requests of two or more tickets: proof of
    cross-request batching. ``max_tickets_per_call`` is the most tickets seen in one call;
    ``max_tickets_in_flight`` the most tickets with a request at the engine at the same time
    (async engines, where each request is its own call).
    """

    calls: int = 0
    requests: int = 0
    mixed_calls: int = 0
    max_batch: int = 0
    max_tickets_per_call: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    max_tickets_in_flight: int = 0
    queued: int = 0
    failed_calls: int = 0
    cancelled_requests: int = 0
    busy_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class _Item:
    step: Step  # only steps of the same kind and settings share a call
    ticket: Ticket
    future: Future = field(default_factory=Future)


class SharedEngine(EngineWrapper):
    """An engine layer that shares its inner engine between concurrent callers (see the module
    doc); the engine it wraps is ``.inner``, as for every layer.

    Build the reranker on it (an engine layer, see :func:`~reasonrank.scheduling.compose`);
    call :meth:`bind_loop` from the event loop that async callers use, and :meth:`close` at
    shutdown (drains the queue, then closes the real engine). ``on_call(n_requests, n_tickets, seconds)`` is called after every
    engine call (metrics). Engine calls (generate, choice scores, attention, encoding) go
    through the shared queue or gate; tokenizer work (count, truncate — a batch in one call —,
    render) goes straight to the inner engine, as :class:`EngineWrapper` forwards it.
    """

    def __init__(
        self,
        engine: base.Engine,
        *,
        max_batch_size: int | None = None,
        max_concurrency: int | None = None,
        on_call: Callable[[int, int, float], None] | None = None,
    ) -> None:
        super().__init__(engine)
        self.name = "shared"  # part of the reply cache's model identity: kept as it was
        self.max_batch_size = max(1, max_batch_size or engine.max_batch_size or 1)
        self.max_concurrency = max(1, max_concurrency or engine.max_concurrency or 1)
        self.is_async = self.max_concurrency > 1
        self.stats = SharedStats()
        self.on_call = on_call
        self._cond = threading.Condition()
        self._pending: deque[_Item] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Semaphore | None = None
        self._tickets_in_flight: dict[str, int] = {}
        self._busy = BusyClock()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "shared": True, "max_batch_size": self.max_batch_size,
                "max_concurrency": self.max_concurrency}

    # -- sync callers: the continuous-batching queue ------------------------------------------
    def generate(self, requests: Sequence[base.ChatRequest], params: base.SamplingParams) -> list[base.Generation]:
        return self._submit([Generate(r, params) for r in requests])

    def choice_logprobs(self, requests: Sequence[base.ChatRequest], choices: Sequence[str]) -> list[base.ChoiceDistribution]:
        key = tuple(choices)
        return self._submit([ScoreChoices(r, key) for r in requests])

    def attention(self, requests: Sequence[base.AttentionRequest]) -> list[base.AttentionReadout]:
        return self._submit([Attend(r) for r in requests])

    def encode_batch(self, requests: Sequence[base.EncodeRequest]) -> list[base.Encoding]:
        return self._submit([Encode(r) for r in requests])

    def _submit(self, steps: list[Step]) -> list[Any]:
        ticket = current_ticket.get() or _ANON
        if ticket.cancelled.is_set():
            raise RequestCancelled("request cancelled before it reached the engine")
        items = [_Item(s, ticket) for s in steps]
        with self._cond:
            if self._closed:
                raise EngineError("the shared engine is shut down")
            self._ensure_thread()
            self._pending.extend(items)
            self.stats.queued = len(self._pending)
            self._cond.notify()
        results = []
        error: BaseException | None = None
        for item in items:  # wait for all, so none is left running for a caller that gave up
            try:
                results.append(item.future.result())
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                error = error or exc
        if error is not None:
            raise error
        return results

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._dispatch_loop, name="reasonrank-shared-engine",
                                            daemon=True)
            self._thread.start()

    def _take_batch(self) -> list[_Item] | None:
        """The next engine call: the oldest item and up to max_batch_size - 1 more of its kind."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            # every cancelled request fails now, wherever it waits in the queue
            self._pending = deque(item for item in self._pending if not self._dropped(item))
            batch = take_batch(self._pending, self.max_batch_size, lambda item: item.step)
            self.stats.queued = len(self._pending)
            return batch

    def _dropped(self, item: _Item) -> bool:
        """A queued request whose caller gave up (its ticket was cancelled): failed, never sent."""
        if not item.ticket.cancelled.is_set():
            return False
        self.stats.cancelled_requests += 1
        item.future.set_exception(RequestCancelled("request cancelled (timed out) while queued"))
        return True

    def _dispatch_loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if batch:
                self._run_call(batch)

    def _run_call(self, batch: list[_Item]) -> None:
        tickets = {item.ticket.id for item in batch}
        self._record_start(len(batch), tickets)
        started = time.perf_counter()
        try:
            step = batch[0].step
            out = checked(step.call(self.inner, [item.step.request for item in batch]), len(batch))
            out = timed(out, time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the callers
            err = as_engine_error(exc)
            with self._cond:
                self.stats.failed_calls += 1
            for item in batch:
                item.future.set_exception(err)
        else:
            for item, value in zip(batch, out):
                item.future.set_result(value)
        finally:
            self._record_end(len(batch), tickets, time.perf_counter() - started)

    # -- async callers: one gate across all callers -------------------------------------------
    def bind_loop(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """The event loop that owns the shared gate (the service's loop)."""
        self._loop = loop or asyncio.get_running_loop()
        self._gate = None

    async def agenerate(self, requests: Sequence[base.ChatRequest], params: base.SamplingParams) -> list[base.Generation]:
        return await self._asubmit([Generate(r, params) for r in requests])

    async def achoice_logprobs(self, requests: Sequence[base.ChatRequest], choices: Sequence[str]) -> list[base.ChoiceDistribution]:
        key = tuple(choices)
        return await self._asubmit([ScoreChoices(r, key) for r in requests])

    async def aattention(self, requests: Sequence[base.AttentionRequest]) -> list[base.AttentionReadout]:
        return await self._asubmit([Attend(r) for r in requests])

    async def aencode_batch(self, requests: Sequence[base.EncodeRequest]) -> list[base.Encoding]:
        return await self._asubmit([Encode(r) for r in requests])

    async def _asubmit(self, steps: list[Step]) -> list[Any]:
        if not self.is_async:  # the sync queue, from a worker thread (it keeps the caller's ticket)
            return await asyncio.to_thread(self._submit, steps)
        ticket = current_ticket.get() or _ANON
        calls = [self._gated(ticket, functools.partial(step.acall, self.inner, [step.request])) for step in steps]
        return [x for out in await self._on_loop(_gather(calls)) for x in out]

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the bound loop (callers on other loops, e.g. a method's worker thread)."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        if self._loop is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _gated(self, ticket: Ticket, call: Callable[[], Awaitable[Sequence[T]]]) -> Sequence[T]:
        # the ticket is passed in: this may run on the bound loop, outside the caller's context
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.max_concurrency)
        async with self._gate:
            if ticket.cancelled.is_set():
                self.stats.cancelled_requests += 1
                raise RequestCancelled("request cancelled (timed out) while queued")
            self._record_start(1, {ticket.id})
            started = time.perf_counter()
            ok = False
            try:
                out = await call()
                if len(out) != 1:
                    raise EngineError(f"engine returned {len(out)} results for 1 request")
                ok = True
                return out
            finally:
                if not ok:
                    with self._cond:
                        self.stats.failed_calls += 1
                self._record_end(1, {ticket.id}, time.perf_counter() - started)

    # -- bookkeeping --------------------------------------------------------------------------
    def _record_start(self, n: int, tickets: set[str]) -> None:
        with self._cond:
            s = self.stats
            self._busy.start(n)
            s.calls += 1
            s.requests += n
            s.max_batch = max(s.max_batch, n)
            s.max_tickets_per_call = max(s.max_tickets_per_call, len(tickets))
            if len(tickets) > 1:
                s.mixed_calls += 1
            s.in_flight += n
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
            for t in tickets:
                self._tickets_in_flight[t] = self._tickets_in_flight.get(t, 0) + 1
            s.max_tickets_in_flight = max(s.max_tickets_in_flight, len(self._tickets_in_flight))

    def _record_end(self, n: int, tickets: set[str], seconds: float) -> None:
        with self._cond:
            s = self.stats
            s.in_flight -= n
            self._busy.end(n)
            s.busy_seconds = self._busy.seconds
            for t in tickets:
                left = self._tickets_in_flight.get(t, 0) - 1
                if left > 0:
                    self._tickets_in_flight[t] = left
                else:
                    self._tickets_in_flight.pop(t, None)
        if self.on_call is not None:
            self.on_call(n, len(tickets), seconds)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Finish the queued requests, stop the dispatcher, close the real engine. Idempotent."""
        with self._cond:
            already = self._closed
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if not already:
            self.inner.close()


async def _gather(calls: Sequence[Awaitable[Sequence[T]]]) -> list[Sequence[T]]:
    return list(await asyncio.gather(*calls))
