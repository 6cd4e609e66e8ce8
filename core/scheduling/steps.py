"""What a job may ask the engine for: one step of each engine request kind, and forks.

A *job* is a generator. It yields a step, receives the engine's reply (or has an
:class:`~reasonrank.errors.EngineError` thrown in) and finally returns its result:

* :class:`Generate` — continue a chat (``Engine.generate``), reply: a ``Generation``;
* :class:`ScoreChoices` — next-token log-probabilities of a few choice strings
  (``Engine.choice_logprobs``), reply: a ``ChoiceDistribution``;
* :class:`Attend` — read attention weights (``Engine.attention``), reply: an ``AttentionReadout``;
* :class:`Encode` — embed a text or score a (query, passage) pair with an encoder model
  (``Engine.encode_batch``), reply: an ``Encoding``;
* :class:`Fork` — run independent sub-jobs concurrently (a query's passages, or its windows),
  reply: the list of their results; the first sub-job that raises cancels its siblings and its
  error is thrown into the parent. :func:`gather` forks plain steps, each failure a value.

Each step kind knows how to call the engine for a batch of compatible steps (same
:meth:`batch_key`), so a new request kind is one new class here.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from reasonrank.engines.base import (
    AttentionRequest,
    ChatRequest,
    EncodeRequest,
    Engine,
    SamplingParams,
)

_Queued = TypeVar("_Queued")
from reasonrank.errors import EngineError

R = TypeVar("R")
#: Called with the number of replies delivered (progress bars).
StepCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Generate:
    """Generate a continuation of ``request`` with ``params``."""

    request: ChatRequest
    params: SamplingParams
    kind: ClassVar[str] = "generate"

    def batch_key(self) -> Any:
        return self.params

    def call(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return engine.generate(requests, self.params)

    async def acall(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return await engine.agenerate(requests, self.params)


@dataclass(frozen=True, slots=True)
class ScoreChoices:
    """The distribution over ``choices`` as the next text of ``request``."""

    request: ChatRequest
    choices: tuple[str, ...]
    kind: ClassVar[str] = "choice_logprobs"

    def batch_key(self) -> Any:
        return self.choices

    def call(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return engine.choice_logprobs(requests, list(self.choices))

    async def acall(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return await engine.achoice_logprobs(requests, list(self.choices))


@dataclass(frozen=True, slots=True)
class Attend:
    """An attention readout (see :class:`~reasonrank.engines.base.AttentionRequest`)."""

    request: AttentionRequest
    kind: ClassVar[str] = "attention"

    def batch_key(self) -> Any:
        return None

    def call(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return engine.attention(requests)

    async def acall(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return await engine.aattention(requests)


@dataclass(frozen=True, slots=True)
class Encode:
    """An embedding or a pair score (see :class:`~reasonrank.engines.base.EncodeRequest`)."""

    request: EncodeRequest
    kind: ClassVar[str] = "encode"

    def batch_key(self) -> Any:
        return None

    def call(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return engine.encode_batch(requests)

    async def acall(self, engine: Engine, requests: list[Any]) -> Sequence[Any]:
        return await engine.aencode_batch(requests)


Step = Generate | ScoreChoices | Attend | Encode


@dataclass(frozen=True, slots=True)
class Fork:
    """Run ``jobs`` concurrently; the parent receives their results, in order."""

    jobs: tuple[Generator[Any, Any, Any], ...]


Job = Generator[Step | Fork | ChatRequest, Any, R]


def same_batch(a: Step, b: Step) -> bool:
    """Whether two steps can share one engine call (same kind, same settings)."""
    if type(a) is not type(b):
        return False
    ka, kb = a.batch_key(), b.batch_key()
    return ka is kb or ka == kb


def take_batch(queue: deque[_Queued], size: int, step_of: Callable[[_Queued], Step],
               drop: Callable[[_Queued], bool] = lambda _: False) -> list[_Queued]:
    """The next engine call, FIFO: the oldest queued item and the following ones whose steps can
    share its call (:func:`same_batch`), at most ``size``; the others stay queued in their order.
    ``drop(item)`` says an item goes without being sent (a dead job, a cancelled request; it may
    record why). Both schedulers' batching and the shared engine's dispatcher take calls here."""
    batch: list[_Queued] = []
    skipped: list[_Queued] = []
    while queue and len(batch) < size:
        item = queue.popleft()
        if drop(item):
            continue
        (batch if not batch or same_batch(step_of(batch[0]), step_of(item)) else skipped).append(item)
    queue.extendleft(reversed(skipped))
    return batch


def as_step(item: Any, params: SamplingParams | None) -> Step:
    """A yielded item as a step: a bare :class:`ChatRequest` means :class:`Generate` with the
    driver's default ``params`` (the jobs of earlier versions yield those)."""
    if type(item) is ChatRequest:
        if params is None:
            raise TypeError("a job yielded a bare ChatRequest, but the driver got no SamplingParams")
        return Generate(item, params)
    if not isinstance(item, (Generate, ScoreChoices, Attend, Encode)):
        raise TypeError(f"a job yielded {type(item).__name__}, not a step")
    return item


def _one(step: Step) -> Generator[Step, Any, Any]:
    try:
        return (yield step)
    except EngineError as exc:
        return exc


def gather(steps: Sequence[Step]) -> Fork:
    """Fork plain steps; each reply comes back in place, an engine failure as the error value
    (so one failed passage does not cancel the others)."""
    return Fork(tuple(_one(s) for s in steps))


__all__ = ["Attend", "Encode", "Fork", "Generate", "Job", "ScoreChoices", "Step", "StepCallback", "as_step", "gather", "same_batch"]
