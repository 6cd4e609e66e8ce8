"""How listwise reranking walks a query's candidates: one *strategy* per module, registered here.

A strategy is a function ``job(ranker, query, candidates) -> Job`` (a generator for
:mod:`reasonrank.scheduling`) built from the ranker's one-window step
(:meth:`~reasonrank.methods.listwise.ListwiseReranker.window_job`), plus what a dry run sends first
and how many windows a query costs (progress bars), and the declaration of its own options (a
frozen dataclass of :func:`reasonrank.options.option` fields, e.g. partition's ``pivot``): the
listwise method takes them as keywords, the CLI makes their flags, specs and presets are checked
against them. A new strategy is one module and one line in :data:`STRATEGIES` (a plugin adds
its line from its own module), with no edit to the listwise class or the CLI.

* ``sliding`` (default): the official ReasonRank loop, windows from the bottom of the list to the
  top, each waiting for the previous one (:mod:`reasonrank.methods.windows`).
* ``partition``: top-down partitioning (Parry, MacAvaney & Ganguly, SIGIR 2024): a query's windows
  after the first of a round are independent and sent at once
  (:mod:`reasonrank.methods.listwise_partition`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reasonrank.errors import InvalidInputError
from reasonrank.methods.windows import apply_window, window_plan
from reasonrank.registry import load_registered
from reasonrank.scheduling import Job
from reasonrank.types import Candidate, Query, RerankResult, Trace

if TYPE_CHECKING:
    from reasonrank.methods.listwise import ListwiseReranker


@dataclass
class WindowOutcome:
    """One window's answer: a 0-based permutation of the window (the input order when the
    output was unusable or the engine failed), its trace and warnings."""

    permutation: list[int]
    trace: Trace | None = None
    warnings: list[str] = field(default_factory=list)
    engine_failure: bool = False


@dataclass
class WindowLog:
    """A query's traces, warnings and engine failures, in the order the strategy adds them."""

    traces: list[Trace] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    engine_failures: int = 0

    def add(self, outcome: WindowOutcome) -> list[int]:
        """Record ``outcome``; returns its permutation."""
        if outcome.trace is not None:
            self.traces.append(outcome.trace)
        self.warnings.extend(outcome.warnings)
        self.engine_failures += outcome.engine_failure
        return outcome.permutation

    def result(self, ranker: ListwiseReranker, query: Query, candidates: list[Candidate],
               order: list[int]) -> RerankResult:
        """The query's result for the final ``order`` (indices into ``candidates``)."""
        from reasonrank.methods.results import assemble_result

        return assemble_result(query, candidates, order, ranker.method, traces=self.traces,
                               warnings=self.warnings, model=ranker.engine.model_name,
                               engine_fallbacks=self.engine_failures)


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its job, the first window a dry run shows, the windows a query
    of ``n`` candidates costs (None: depends on the model's answers), and the declaration of
    its options (None: it has none). A declaration may define ``check(ranker)``, called once
    the ranker's own settings are set (e.g. partition's pivot must fall inside a window)."""

    job: Callable[[ListwiseReranker, Query, list[Candidate]], Job[RerankResult]]
    first_window: Callable[[ListwiseReranker, int], tuple[int, int]]
    windows: Callable[[ListwiseReranker, int], int | None]
    options: type | None = None

    def configure(self, name: str, ranker: ListwiseReranker, given: Mapping[str, Any]) -> Any:
        """The strategy's settings for ``ranker`` from the ``given`` keywords (its declaration's
        defaults for the others), each checked against the declaration; None without one."""
        if self.options is None:
            return None
        from reasonrank.options import describe

        infos = {i.name: i for i in describe(self.options, f"listwise --strategy {name}")}
        unknown = sorted(set(given) - set(infos))
        if unknown:
            raise InvalidInputError(f"unknown options {unknown} for listwise strategy {name!r}; "
                                    f"known: {sorted(infos)}")
        for key, value in given.items():
            infos[key].check(value)
        settings = self.options(**given)
        check = getattr(settings, "check", None)
        if check is not None:
            check(ranker)
        return settings


# -- sliding: the official loop ------------------------------------------------------------
def sliding_job(ranker: ListwiseReranker, query: Query, candidates: list[Candidate]) -> Job[RerankResult]:
    """The official ReasonRank sliding window (``rerank/rankllm.py`` ``sliding_windows_batched``):
    each window is built from the order the previous one left."""
    order = list(range(len(candidates)))
    log = WindowLog()
    for begin, end in window_plan(len(candidates), ranker.window_size, ranker.stride):
        ids = order[begin:end]
        outcome = yield from ranker.window_job(query, [candidates[i] for i in ids], f"window {begin + 1}-{end}")
        apply_window(order, begin, end, log.add(outcome))
    return log.result(ranker, query, candidates, order)


SLIDING = Strategy(
    job=sliding_job,
    first_window=lambda r, n: window_plan(n, r.window_size, r.stride)[0],
    windows=lambda r, n: len(window_plan(n, r.window_size, r.stride)),
)

#: name -> ``"module:attribute"`` of a :class:`Strategy` (imported when first used).
STRATEGIES: dict[str, str] = {
    "sliding": "reasonrank.methods.listwise_strategies:SLIDING",
    "partition": "reasonrank.methods.listwise_partition:PARTITION",
}


def strategy(name: Any) -> Strategy:
    """The registered strategy ``name`` (an unknown name is an :class:`InvalidInputError`)."""
    if not isinstance(name, str) or name not in STRATEGIES:
        raise InvalidInputError(f"unknown listwise strategy {name!r}; choose one of {sorted(STRATEGIES)}")
    found: Strategy = load_registered(STRATEGIES, name, "listwise strategy")
    return found


def strategy_names() -> list[str]:
    """The registered strategies' names (the ``strategy`` option's choices)."""
    return sorted(STRATEGIES)


def strategy_declarations() -> list[tuple[str, type]]:
    """``(owner, declaration)`` of every registered strategy that has options (the listwise
    method's ``option_extensions``)."""
    out = []
    for name in strategy_names():
        declared = strategy(name).options
        if declared is not None:
            out.append((f"listwise --strategy {name}", declared))
    return out


def split_strategy_options(chosen: str, options: dict[str, Any]) -> dict[str, Any]:
    """Take the strategies' options out of ``options`` (a method's keywords): those of the
    ``chosen`` strategy are returned; another strategy's are dropped (a preset's ``pivot``
    does not stop ``strategy="sliding"`` from overriding its strategy)."""
    from reasonrank.options import iter_declared_names

    def names(declared: type | None) -> set[str]:
        return set(iter_declared_names(declared)) if declared is not None else set()

    own = names(strategy(chosen).options)
    others = set().union(*(names(strategy(n).options) for n in strategy_names())) - own
    for key in others:
        options.pop(key, None)
    return {key: options.pop(key) for key in sorted(own) if key in options}


__all__ = ["SLIDING", "STRATEGIES", "Strategy", "WindowLog", "WindowOutcome", "sliding_job",
           "split_strategy_options", "strategy", "strategy_declarations", "strategy_names"]
