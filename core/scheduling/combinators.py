"""Job combinators: wrap a job so that every step it (or any sub-job of its forks) yields,
and every reply it gets, passes through a hook — without the method knowing.

:func:`intercept` is the one primitive: the hook gets each step and may answer it with a
sub-job of its own (e.g. a forced answer continues a generation cut by the budget); the reply
the original job sees is whatever that sub-job returns. Forks are wrapped recursively, so
windows and passages forked by a method are covered too.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from reasonrank.scheduling.steps import Fork

T = TypeVar("T")
#: Given a step, a sub-job that yields steps and returns the reply for it.
StepHook = Callable[[Any], Generator[Any, Any, Any]]


def intercept(job: Generator[Any, Any, T], hook: StepHook) -> Generator[Any, Any, T]:
    """``job`` with each of its steps run through ``hook`` (forks recursively)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            item = job.throw(error) if error is not None else job.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            if isinstance(item, Fork):
                value = yield Fork(tuple(intercept(sub, hook) for sub in item.jobs))
            else:
                value = yield from hook(item)
        except GeneratorExit:
            job.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - thrown into the wrapped job, as the driver would
            error = exc


def observe(job: Generator[Any, Any, T], on_reply: Callable[[Any], None]) -> Generator[Any, Any, T]:
    """``job`` with ``on_reply`` called on every engine reply it receives (not forks' lists)."""

    def hook(step: Any) -> Generator[Any, Any, Any]:
        reply = yield step
        on_reply(reply)
        return reply

    return intercept(job, hook)


__all__ = ["StepHook", "intercept", "observe"]
