"""Running a batch of queries' jobs on the one scheduler, for every method.

:class:`~reasonrank.methods.base.Reranker` hands its validated queries here: each query becomes
one job (``reranker._job``) wrapped in :func:`settle`, so that one query's failure comes back in
its place and never discards the others' results; the jobs run on the async driver when the
reranker says so (:meth:`Reranker.uses_async`), else on the batching driver. Both open the run's
passage memo and call the method's per-run preparation first.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from reasonrank._async import run_coroutine
from reasonrank.cache.replies import find_cache
from reasonrank.engines.base import ChatRequest
from reasonrank.errors import ReasonRankError
from reasonrank.methods.passages import passage_memo
from reasonrank.scheduling import Fork, Job, SchedulerStats, StepCallback, run_async, run_batched
from reasonrank.scheduling.combinators import observe
from reasonrank.scheduling.forcing import force_answers
from reasonrank.types import Query

if TYPE_CHECKING:
    from reasonrank.methods.base import Prepared, Reranker

T = TypeVar("T")


def query_label(query: Query) -> str:
    """How errors and warnings name a query: its id, else the start of its text."""
    return repr(query.id) if query.id else repr(query.text[:60])


def with_query(exc: Exception, query: Query) -> Exception:
    """``exc`` as raised for one query of a batch: same type, the message naming the query.
    Only the library's own errors are renamed; anything else (a bug) is returned unchanged."""
    label = query_label(query)
    if not isinstance(exc, ReasonRankError) or f"query {label}" in str(exc):
        return exc
    try:
        named = type(exc)(f"query {label}: {exc}")
    except Exception:  # noqa: BLE001 - a subclass with another signature: keep the original
        return exc
    named.__cause__ = exc
    return named


def settle(job: Generator[Any, Any, T], query: Query) -> Generator[Any, Any, T | Exception]:
    """A scheduler job that returns its failure (named for ``query``) instead of raising it,
    so one query's error never discards the other queries' finished results."""
    try:
        return (yield from job)
    except Exception as exc:  # noqa: BLE001 - handed back as this query's result
        return with_query(exc, query)


def first_requests(job: Job[Any]) -> list[Any]:
    """The engine requests ``job`` sends before it needs a reply (a dry run: no model called)."""
    try:
        out = next(job)
    except StopIteration:
        return []
    try:
        if isinstance(out, Fork):
            return [r for sub in out.jobs for r in first_requests(sub)]
        return [out if isinstance(out, ChatRequest) else out.request]
    finally:
        job.close()


def counted(job: Generator[Any, Any, T], cache_on: bool) -> Generator[Any, Any, T]:
    """``job`` with its engine replies counted into its result's ``usage``: replies the result
    cache served as hits, the others as misses (only when the engine has a cache layer)."""
    seen = [0, 0]

    def on_reply(reply: Any) -> None:
        if getattr(reply, "cached", False):
            seen[0] += 1
        elif cache_on and hasattr(reply, "cached"):
            seen[1] += 1

    result = yield from observe(job, on_reply)
    usage = getattr(result, "usage", None)
    if usage is not None:
        usage.cache_hits += seen[0]
        usage.cache_misses += seen[1]
    return result


def _jobs(reranker: Reranker, items: list[Prepared]) -> list[Job[Any]]:
    cache_on = find_cache(reranker.engine) is not None
    jobs = []
    for q, c in items:
        job = reranker._job(q, c)
        if reranker.answer_forcing is not None:  # thinking budgets that still answer (the method opted in)
            job = force_answers(job, reranker.answer_forcing)
        jobs.append(settle(counted(job, cache_on), q))
    return jobs


@contextlib.contextmanager
def _observed(reranker: Reranker, items: list[Prepared]) -> Iterator[tuple[SchedulerStats, StepCallback | None]]:
    """The run's stats (kept as ``reranker.last_stats``) and its progress bar, if asked for."""
    stats = SchedulerStats()
    bar = None
    if reranker.show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=reranker._progress_total(items), desc=reranker.method, unit="request", leave=False)
    try:
        yield stats, bar.update if bar is not None else None
    finally:
        if bar is not None:
            bar.close()
        reranker.last_stats = stats


def run_jobs(reranker: Reranker, items: list[Prepared]) -> list[Any]:
    """Every query's result (or its error, in its place), driven from sync code."""
    if reranker.uses_async():
        return run_coroutine(arun_jobs(reranker, items))
    with passage_memo():
        reranker._prefetch(items)
        with _observed(reranker, items) as (stats, step):
            return run_batched(_jobs(reranker, items), reranker.engine, max_batch_size=reranker.max_batch_size,
                               stats=stats, on_step=step)


async def arun_jobs(reranker: Reranker, items: list[Prepared]) -> list[Any]:
    """Async :func:`run_jobs`; a sync batch engine runs in a worker thread (the loop stays free)."""
    if not reranker.uses_async():
        return await asyncio.to_thread(run_jobs, reranker, items)
    with passage_memo():
        await reranker._aprefetch(items)
        with _observed(reranker, items) as (stats, step):
            return await run_async(_jobs(reranker, items), reranker.engine, max_concurrency=reranker.max_concurrency,
                                   stats=stats, on_step=step)
