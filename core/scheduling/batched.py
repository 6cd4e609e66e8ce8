"""The sync driver: the ready steps of all jobs, batched into engine calls.

For engines that batch inside one call (transformers, vLLM's ``LLM``, llama.cpp). Every job runs
until it yields a step; the ready steps wait in one FIFO queue; each engine call takes the oldest
step and up to ``max_batch_size - 1`` more of the same kind and settings. A job whose step was in
a call advances the moment that call returns and its next step joins the queue, so no job waits
for the slowest job of a "phase" (no lockstep). Compare castorini/rank_llm
``listwise_rankllm.py`` (``sliding_windows_batched``), which pipelines windows the same way.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from reasonrank.engines.base import Engine, SamplingParams
from reasonrank.scheduling.stats import Busy, SchedulerStats, call_isolated
from reasonrank.scheduling.steps import Fork, Job, Step, StepCallback, as_step, take_batch


class _Node:
    """One running job: a top-level job (``parent`` None) or a sub-job of a fork."""

    __slots__ = ("born", "children", "dead", "epoch", "job", "parent", "pending", "results", "root", "slot")

    def __init__(self, job: Job[Any], root: int, parent: _Node | None = None, slot: int = 0) -> None:
        self.job = job
        self.root = root  # the top-level job's index: what stats record
        self.parent = parent
        self.slot = slot
        self.born: int = parent.epoch if parent is not None else 0  # which of the parent's forks
        self.epoch: int = 0  # advances so far: a fork's children know whether it is still open
        self.children: list[_Node] = []
        self.results: list[Any] = []
        self.pending = 0
        self.dead = False


class _Run:
    def __init__(self, engine: Engine, params: SamplingParams | None, size: int, busy: Busy,
                 on_step: StepCallback | None, n_jobs: int) -> None:
        self.engine, self.params, self.size, self.busy, self.on_step = engine, params, size, busy, on_step
        self.ready: deque[tuple[_Node, Step]] = deque()
        self.results: list[Any] = [None] * n_jobs

    def advance(self, node: _Node, value: Any) -> None:
        """Send ``value`` into ``node``'s job (thrown if an exception) and route what comes out."""
        node.epoch += 1
        try:
            if isinstance(value, BaseException):
                out = node.job.throw(value)
            elif value is None:
                out = next(node.job)
            else:
                out = node.job.send(value)
        except StopIteration as stop:
            self.finished(node, stop.value, None)
            return
        except Exception as exc:
            if node.parent is None:
                raise  # a top-level job's error ends the run, as a plain loop would
            self.finished(node, None, exc)
            return
        if isinstance(out, Fork):
            self.fork(node, out)
        else:
            self.ready.append((node, as_step(out, self.params)))

    def fork(self, node: _Node, fork: Fork) -> None:
        epoch = node.epoch
        node.children = [_Node(job, node.root, node, i) for i, job in enumerate(fork.jobs)]
        node.results = [None] * len(fork.jobs)
        node.pending = len(fork.jobs)
        if not fork.jobs:
            self.advance(node, [])
        for child in node.children:
            if node.epoch != epoch:  # an earlier sibling failed at once: the fork is over
                child.job.close()
            else:
                self.advance(child, None)

    def finished(self, node: _Node, value: Any, error: Exception | None) -> None:
        node.dead = True
        parent = node.parent
        if parent is None:
            self.results[node.root] = value
            return
        if parent.dead or parent.epoch != node.born:
            return  # the fork was cancelled meanwhile
        if error is not None:
            self.cancel(parent.children)
            self.advance(parent, error)
            return
        parent.results[node.slot] = value
        parent.pending -= 1
        if parent.pending == 0:
            self.advance(parent, parent.results)

    def cancel(self, nodes: list[_Node]) -> None:
        for node in nodes:
            if not node.dead:
                node.dead = True
                self.cancel(node.children)
                node.job.close()

    def take(self) -> list[tuple[_Node, Step]]:
        """The next engine call: the oldest live step and compatible ones, FIFO."""
        return take_batch(self.ready, self.size, lambda item: item[1], drop=lambda item: item[0].dead)

    def loop(self) -> None:
        while True:
            batch = self.take()
            if not batch:
                return
            self.busy.start([node.root for node, _ in batch], batch[0][1].kind)
            replies: list[Any] = []
            try:
                replies = call_isolated(self.engine, [step for _, step in batch])
            finally:
                self.busy.end(replies or len(batch))
            for (node, _), reply in zip(batch, replies):
                if not node.dead:
                    self.advance(node, reply)
                if self.on_step:
                    self.on_step(1)


def run_batched(
    jobs: Sequence[Job[Any]],
    engine: Engine,
    params: SamplingParams | None = None,
    *,
    max_batch_size: int | None = None,
    stats: SchedulerStats | None = None,
    on_step: StepCallback | None = None,
) -> list[Any]:
    """Drive ``jobs`` on a sync engine, batching the ready steps of all jobs per call.

    Returns each job's result in order. ``params`` is the default for jobs that yield a bare
    ``ChatRequest``. A top-level job that raises ends the run with that error (wrap jobs in
    ``settle`` to keep each query's failure as its result).
    """
    size = max(1, max_batch_size or engine.max_batch_size or 1)
    busy = Busy(stats if stats is not None else SchedulerStats())
    run = _Run(engine, params, size, busy, on_step, len(jobs))
    try:
        for i, job in enumerate(jobs):
            run.advance(_Node(job, i), None)
        run.loop()
    finally:
        busy.finish()
        for job in jobs:
            job.close()
    return run.results
