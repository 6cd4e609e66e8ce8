"""Top-down partitioning for listwise reranking (TDPart: Parry, MacAvaney & Ganguly, "Top-Down
Partitioning for Efficient List-Wise Ranking", SIGIR 2024, arXiv 2405.14589).

One round over a pool of candidates (the whole list first):

1. rank the pool's first window; its ``pivot``-th passage (1-based, the paper's ``cutoff``,
   10) is the pivot, the passages above it are candidates, those below it are backfill;
2. rank every other passage of the pool in windows of ``window_size - 1`` plus the pivot, put
   first (the paper's code: ``l = p + l``) -- **all these windows at once** (one
   :class:`~reasonrank.scheduling.Fork`: the engine sees a query's independent windows together,
   and other queries' windows still pipeline around them);
3. each window's passages placed above the pivot join the candidates, the others the backfill;
4. if no window placed anything above the pivot, the first window's top ``pivot`` is final;
   otherwise ``partition_budget`` candidates (the paper's ``buffer``, 20) form the next round's
   pool and the rest go below it. A pool that fits one window is ranked once and the query ends.

What we follow from the paper's code (github Parry-Parry/TDPart @ 8dd49c8,
``partitionrank/transformer/__init__.py``, ``_pivot`` and ``pivot``), and where we differ:

* Candidates a round does not place above the pivot: the code's round returns
  ``c[budget:] + p + b + r`` (budget overflow, pivot, the below-pivot passages of the first
  window then of each later window in list order, each window's part in the model's order, then
  the passages never looked at), i.e. they keep the order they had, below the placed ones. We do
  the same (we look at every passage, so there is no unvisited rest).
* Across rounds the code appends each round's leftovers *after* the earlier rounds' (``b = b +
  _b``; ``out = c + b``), which puts passages that beat round 1's pivot below those that lost to
  it. We put a later round's leftovers *above* the earlier rounds' (right under the placed
  ones), the order the algorithm establishes. With the code's order, whenever a later round's
  pool fills a window, its 10th place goes to a passage from round 1's leftovers.
* The code's inner loop stops once the budget is full (``while len(c) < buffer``), so its
  windows run one after another; the paper's point is that they need not: we send them all, as
  the parallel implementation of JointRank does (github V3RGANz/jointrank ``TDPartRanker``), and
  apply the budget after the round.
* Which candidates fill the budget: the code keeps the first ones found (``split(c, buffer)``:
  the first window's, then each later window's in list order), because its loop stops there.
  Having every window's answer, we can also take them round-robin by their rank inside their
  window (each window's best first: ``partition_fill="interleave"``, the default), which keeps a
  later window's best passage from being cut behind an earlier window's weakest. On DL19 with a
  noisy oracle this is worth +0.04 nDCG@10 at the same cost (benchmarks/README.md, "Listwise
  strategies"); ``partition_fill="list"`` is the code's order.
* Its "nothing above the pivot" test compares with ``cutoff - 1`` where the candidates number
  ``cutoff`` (never true); we test the intended count (as pyterrier-generative's later port does).

Engine failures and unusable outputs follow the method's ``on_error`` / ``on_parse_error``: a
window that keeps its input order has the pivot first, so its passages all stay below the pivot.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from reasonrank.errors import InvalidInputError
from reasonrank.methods.base import check_positive
from reasonrank.methods.listwise_strategies import Strategy, WindowLog, WindowOutcome
from reasonrank.options import option
from reasonrank.scheduling import Fork, Job
from reasonrank.types import Candidate, Query, RerankResult

if TYPE_CHECKING:
    from reasonrank.methods.listwise import ListwiseReranker


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


Fill = Literal["interleave", "list"]
#: How the candidates of a round fill the budget (see the module docstring).
FILLS: tuple[str, ...] = get_args(Fill)


@dataclass(frozen=True)
class PartitionOptions:
    """The options of ``strategy="partition"`` (the listwise method takes them as keywords)."""

    pivot: int = option(10, "the rank (1-based) in the first window of the passage used as the pivot "
                        "(the paper's cutoff; below window_size)", metavar="K")
    partition_budget: int = option(20, "passages placed above the pivot that go on to the next round "
                                   "(the paper's buffer; at least pivot)", metavar="N")
    partition_fill: Fill = option("interleave", "which passages fill that budget: interleave (each "
                                  "window's best first) or list (the first found, as the paper's code)")

    def check(self, ranker: Any) -> None:
        """The settings against the ranker's window (before any engine call)."""
        check_positive("pivot", self.pivot)
        check_positive("partition_budget", self.partition_budget)
        if ranker.window_size < 2 or self.pivot >= ranker.window_size:
            raise InvalidInputError(f"pivot ({self.pivot}) must be a rank inside the first window, below "
                                    f"window_size ({ranker.window_size}), for strategy 'partition'")
        if self.partition_budget < self.pivot:
            raise InvalidInputError(f"partition_budget ({self.partition_budget}) must be at least pivot "
                                    f"({self.pivot}) for strategy 'partition'")


def _fill(groups: list[list[int]], how: str) -> list[int]:
    """The candidates of every window, best first: window after window (``list``) or each
    window's first, then each window's second... (``interleave``)."""
    if how == "list":
        return [i for group in groups for i in group]
    depth = max(map(len, groups), default=0)
    return [group[r] for r in range(depth) for group in groups if r < len(group)]


def partition_job(ranker: ListwiseReranker, query: Query, candidates: list[Candidate]) -> Job[RerankResult]:
    """One query's top-down partitioning (see the module docstring)."""
    settings = cast(PartitionOptions, ranker.strategy_options)
    width, k, budget = ranker.window_size, settings.pivot, settings.partition_budget
    log = WindowLog()
    pool = list(range(len(candidates)))
    settled: list[int] = []  # below the pool, best first
    rnd = 0
    while True:
        rnd += 1
        head = pool[:width]
        outcome: WindowOutcome = yield from ranker.window_job(
            query, [candidates[i] for i in head], f"round {rnd} first window")
        ranked = [head[p] for p in log.add(outcome)]
        if len(pool) <= width:  # the pool fits one window: ranked, done
            return log.result(ranker, query, candidates, ranked + settled)
        pivot = ranked[k - 1]
        groups, below = [ranked[: k - 1]], ranked[k:]
        windows = [[pivot, *chunk] for chunk in _chunks(pool[width:], width - 1)]
        outcomes: list[WindowOutcome] = yield Fork(tuple(
            ranker.window_job(query, [candidates[i] for i in ids], f"round {rnd} window {n + 1}/{len(windows)}")
            for n, ids in enumerate(windows)))
        for ids, out in zip(windows, outcomes, strict=True):
            placed = [ids[p] for p in log.add(out)]
            at = placed.index(pivot)
            groups.append(placed[:at])
            below += placed[at + 1 :]
        above = _fill(groups, settings.partition_fill)
        if len(above) == k - 1:  # nothing beat the pivot: the first window's top k is final
            return log.result(ranker, query, candidates, above + [pivot] + below + settled)
        pool = above[:budget]
        settled = above[budget:] + [pivot] + below + settled


def _windows(ranker: ListwiseReranker, n: int) -> int | None:
    """Windows of the first round (later rounds depend on the answers): for the progress bar."""
    if n <= ranker.window_size:
        return 1
    return 1 + -(-(n - ranker.window_size) // (ranker.window_size - 1))


PARTITION = Strategy(job=partition_job, first_window=lambda r, n: (0, min(n, r.window_size)), windows=_windows,
                     options=PartitionOptions)

__all__ = ["FILLS", "PARTITION", "PartitionOptions", "partition_job"]
