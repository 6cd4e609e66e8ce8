"""The async driver: every job's next step goes out the moment its last reply returns.

For engines that serve concurrent requests (OpenAI-compatible servers, vLLM's async engine,
transformers' continuous batching): one task per job (and per forked sub-job), at most
``max_concurrency`` requests in flight across all of them. No job waits for the slowest window
of a "step" (no lockstep).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from reasonrank.engines.base import Engine, SamplingParams
from reasonrank.scheduling.stats import Busy, SchedulerStats, checked, reply_error, timed
from reasonrank.scheduling.steps import Fork, Job, Step, StepCallback, as_step


class _Run:
    def __init__(self, engine: Engine, params: SamplingParams | None, limit: int, busy: Busy,
                 on_step: StepCallback | None) -> None:
        self.engine, self.params, self.busy, self.on_step = engine, params, busy, on_step
        self.gate = asyncio.Semaphore(limit)

    async def drive(self, job: Job[Any], root: int) -> Any:
        """Run one job to its result; its replies are awaited one at a time."""
        value: Any = None
        try:
            while True:
                try:
                    if isinstance(value, BaseException):
                        out = job.throw(value)
                    elif value is None:
                        out = next(job)
                    else:
                        out = job.send(value)
                except StopIteration as stop:
                    return stop.value
                if isinstance(out, Fork):
                    value = await self.fork(out, root)
                else:
                    value = await self.call(as_step(out, self.params), root)
        finally:
            job.close()

    async def fork(self, fork: Fork, root: int) -> Any:
        """The sub-jobs' results, or the first error among them (its siblings cancelled)."""
        tasks = [asyncio.ensure_future(self.drive(job, root)) for job in fork.jobs]
        try:
            return list(await asyncio.gather(*tasks))
        except Exception as exc:  # noqa: BLE001 - thrown into the parent job
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return exc

    async def call(self, step: Step, root: int) -> Any:
        """One request through the shared gate; an engine failure comes back as its value."""
        async with self.gate:
            self.busy.start([root], step.kind)
            t0 = time.perf_counter()
            reply: Any = None
            try:
                out = checked(await step.acall(self.engine, [step.request]), 1)
                reply = timed(out, time.perf_counter() - t0)[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every engine failure goes to its job
                reply = reply_error(exc)
            finally:
                self.busy.end([reply])
        if self.on_step:
            self.on_step(1)
        return reply


async def run_async(
    jobs: Sequence[Job[Any]],
    engine: Engine,
    params: SamplingParams | None = None,
    *,
    max_concurrency: int | None = None,
    stats: SchedulerStats | None = None,
    on_step: StepCallback | None = None,
) -> list[Any]:
    """Drive ``jobs`` concurrently: each job's next request goes out when its last returns.

    Returns each job's result in order; a top-level job that raises ends the run with that error
    after cancelling the others (wrap jobs in ``settle`` to keep each query's failure).
    """
    limit = max(1, max_concurrency or engine.max_concurrency or 1)
    busy = Busy(stats if stats is not None else SchedulerStats())
    run = _Run(engine, params, limit, busy, on_step)
    tasks = [asyncio.ensure_future(run.drive(job, i)) for i, job in enumerate(jobs)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # first failure wins (on_error="raise"): stop the other jobs' requests
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        busy.finish()
        for job in jobs:
            job.close()
