"""What every reranking method shares: input checks, the depth split, running the queries' jobs
on the one scheduler, result assembly and the ``on_error`` policy.

A method implements :meth:`Reranker._job`: one query's work as a generator of engine steps
(:mod:`reasonrank.scheduling`) that returns the query's :class:`RerankResult`. The base class
decides once, from the engine, whether the jobs run on the sync batching driver or the async
one, and keeps one query's failure from discarding the others'."""
from __future__ import annotations

import copy
import logging
import time
from abc import ABC
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from reasonrank.checks import check_positive, check_shared_options
from reasonrank.engines.base import ChatRequest, Engine
from reasonrank.errors import (
    EngineError,
    InvalidInputError,
    ParseError,
    ReasonRankError,
    as_engine_error,
    describe_failure,
)
from reasonrank.methods.passages import aprefetch_cuts, prefetch_cuts
from reasonrank.methods.results import assemble_result, rank_score, stable_order_by_score  # noqa: F401 - re-exported
from reasonrank.methods.running import (  # noqa: F401 - re-exported
    arun_jobs,
    first_requests,
    query_label,
    run_jobs,
    settle,
    with_query,
)
from reasonrank.scheduling import Job, SchedulerStats
from reasonrank.scheduling.forcing import ForceAnswer
from reasonrank.scheduling.layers import EngineLayer, compose
from reasonrank.types import Candidate, Query, RankedCandidate, RerankResult

OnError = Literal["raise", "keep_order"]
OnParseError = Literal["keep_order", "raise"]
#: ``"auto"``: the async driver when the engine takes concurrent requests (``max_concurrency >
#: 1``), else batched calls; ``"pipeline"`` / ``"batch"`` force one.
Schedule = Literal["auto", "pipeline", "batch"]
T = TypeVar("T")
logger = logging.getLogger("reasonrank")
QueryLike = Query | str
CandidateLike = Candidate | Mapping[str, Any]
RerankItem = tuple[QueryLike, Sequence[CandidateLike]]
Prepared = tuple[Query, list[Candidate]]


# One function turns user input into candidates (reasonrank.inputs); re-exported here.
from reasonrank.inputs import coerce_candidate, coerce_candidates, coerce_query  # noqa: F401 - re-exported


def rebuild_in_place(reranker: Reranker, *layers: EngineLayer) -> None:
    """Make ``reranker`` its own :meth:`~Reranker.with_layers` rebuild (every attribute the
    rebuilt one's). Only for the deprecated calls whose contract is to change an already built
    reranker (``reasonrank.serve.share_engine``, ``reasonrank.evaluate.meter``); it goes with
    them. Everything else composes its layers when the reranker is built."""
    rebuilt = reranker.with_layers(*layers)
    vars(reranker).update(vars(rebuilt))


# -- the error policy ------------------------------------------------------------------------
def engine_call(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` (request building: token counting, truncation, rendering) so that any
    failure of the engine comes out as :class:`EngineError`, the one type ``on_error`` handles.
    The library's own errors (:class:`PromptTooLongError`, :class:`InvalidInputError`: the
    caller's settings, never an engine fault) and internal ``AssertionError`` pass unchanged."""
    try:
        return fn(*args)
    except (ReasonRankError, AssertionError):
        raise
    except Exception as exc:
        raise as_engine_error(exc) from exc


def _settings_of(value: Any) -> Any:
    """A setting as the memo key holds it: a nested reranker by its own settings."""
    if isinstance(value, Reranker):
        return value.result_settings()
    if isinstance(value, (list, tuple)):
        return [_settings_of(v) for v in value]
    return value


class Reranker(ABC):
    """Base class of all reranking methods.

    Parameters
    ----------
    engine:
        Any :class:`~reasonrank.engines.base.Engine`.
    on_error:
        Engine failures (server down, timeout, HTTP errors, a tokenizer that fails): ``"raise"``
        (default) raises one :class:`EngineError` naming the query; ``"keep_order"`` keeps the
        input order for the affected window or query, with a warning on the result. It covers
        every engine call: generation, choice scoring, token counting, truncation, rendering.
    on_parse_error:
        Model outputs that give no usable answer (empty, garbage, no ids, budget exhausted
        before an answer): ``"keep_order"`` (default) keeps the window's input order or gives
        the unit the method's fallback score, with a warning, and counts it in
        ``result.usage.fallbacks``; ``"raise"`` (strict) raises :class:`ParseError`.
    depth:
        Rerank only the first ``depth`` candidates (the first-stage top-k); the rest follow in
        input order with scores below the reranked ones. ``None`` reranks all.
    show_progress:
        Show a progress bar over the engine requests of long batches.
    max_batch_size, max_concurrency:
        Override the engine's own limits (requests per sync call; requests in flight).
    schedule:
        ``"auto"`` (async pipelining when the engine takes concurrent requests, else batched
        calls), ``"pipeline"`` or ``"batch"`` to force one.
    """

    method: ClassVar[str] = "base"
    #: The attributes that can change this method's answers: with the query and the candidates,
    #: they are the whole-result memo's key (:meth:`result_settings`). Each class declares its
    #: own; the keys of the classes above it are included. Every other attribute a reranker
    #: holds must be in ``operational_fields`` (a test checks each attribute is one or the other).
    result_fields: ClassVar[tuple[str, ...]] = ("on_error", "on_parse_error", "depth")
    #: Attributes that change how a query runs but never its answer (or are the engine).
    operational_fields: ClassVar[tuple[str, ...]] = ("engine", "last_stats", "show_progress", "max_batch_size",
                                                     "max_concurrency", "schedule", "method", "_engine")
    #: The one switch of forced answers: the policy each query's job is wrapped with
    #: (:mod:`reasonrank.scheduling.forcing`; ``enabled=False`` only records thinking tokens).
    #: None: the method does not force answers (listwise, setwise and REBEL declare one).
    answer_forcing: ForceAnswer | None = None

    def __init__(
        self,
        engine: Engine,
        *,
        on_error: OnError = "raise",
        on_parse_error: OnParseError = "keep_order",
        depth: int | None = None,
        show_progress: bool = False,
        max_batch_size: int | None = None,
        max_concurrency: int | None = None,
        schedule: Schedule = "auto",
    ) -> None:
        check_positive("max_batch_size", max_batch_size)
        check_positive("max_concurrency", max_concurrency)
        if schedule not in ("auto", "pipeline", "batch"):
            raise InvalidInputError(f"schedule must be 'auto', 'pipeline' or 'batch', got {schedule!r}")
        self.max_batch_size = max_batch_size
        self.max_concurrency = max_concurrency
        self.schedule: Schedule = schedule
        self.last_stats: SchedulerStats | None = None  # of the latest batch (benchmarks read it)
        if not isinstance(engine, Engine):
            raise InvalidInputError(f"engine must be an Engine, got {type(engine).__name__}")
        check_shared_options(on_error, on_parse_error, depth)  # the spec's checks too (one home)
        self._engine = engine
        self.on_error: OnError = on_error
        self.on_parse_error: OnParseError = on_parse_error
        self.depth = depth
        self.show_progress = show_progress

    def result_settings(self) -> dict[str, Any]:
        """Everything that can change this reranker's answer to a query, as plain data (nested
        rerankers by their own settings): the whole-result memo keys results by it."""
        names = sorted({n for cls in type(self).__mro__ for n in vars(cls).get("result_fields", ())})
        return {"class": type(self).__qualname__, **{n: _settings_of(getattr(self, n)) for n in names}}

    @property
    def engine(self) -> Engine:
        """The engine with its layers (sharing, metering, the reply cache), composed when the
        reranker was built and never replaced afterwards: a reranker with another layer is a
        new one (:meth:`with_layers`)."""
        return self._engine

    def with_layers(self, *layers: EngineLayer) -> Reranker:
        """A new reranker with this one's settings whose engine is this one's wrapped by
        ``layers`` (innermost first); this reranker is left as it is. Parts that share one
        engine (a cascade's stages) share its one wrapped engine. Prefer composing the layers
        when building (``RerankerSpec.build(layers=...)``): then they sit under the reply cache."""
        wrapped: dict[int, Engine] = {}

        def wrap(engine: Engine) -> Engine:
            if id(engine) not in wrapped:
                wrapped[id(engine)] = compose(engine, *layers)
            return wrapped[id(engine)]

        return self._rebuilt(wrap)

    def _rebuilt(self, wrap: Callable[[Engine], Engine]) -> Reranker:
        """This reranker's copy on ``wrap(engine)`` (a composite rebuilds its parts)."""
        clone = copy.copy(self)
        clone._engine = wrap(self._engine)
        clone.last_stats = None
        return clone

    # -- public API -------------------------------------------------------------------------
    def rerank(self, query: QueryLike, candidates: Sequence[CandidateLike]) -> RerankResult:
        """Rerank one query's candidates. Every candidate comes back exactly once."""
        return self.rerank_batch([(query, candidates)])[0]

    def rerank_batch(self, items: Sequence[RerankItem], *, return_exceptions: bool = False) -> list[Any]:
        """Rerank many queries together (batched across queries); results in input order.

        A query that fails (an engine error under ``on_error="raise"``, a :class:`ParseError`
        under ``on_parse_error="raise"``) never discards the others' results: the error, which
        names the query, is raised after the batch, or — with ``return_exceptions=True`` —
        returned in that query's place (as ``asyncio.gather`` does), so callers can keep every
        finished result (``reasonrank eval`` saves them before it stops).
        """
        prepared = self._prepare(items)
        start = time.perf_counter()
        heads = [(q, c[: self.depth] if self.depth else c) for q, c in prepared]
        results = self._rerank_many(heads)
        return self._finish(prepared, results, time.perf_counter() - start, return_exceptions)

    async def arerank(self, query: QueryLike, candidates: Sequence[CandidateLike]) -> RerankResult:
        """Async :meth:`rerank`."""
        return (await self.arerank_batch([(query, candidates)]))[0]

    async def arerank_batch(self, items: Sequence[RerankItem], *, return_exceptions: bool = False) -> list[Any]:
        """Async :meth:`rerank_batch`; concurrent where the engine is."""
        prepared = self._prepare(items)
        start = time.perf_counter()
        heads = [(q, c[: self.depth] if self.depth else c) for q, c in prepared]
        results = await self._arerank_many(heads)
        return self._finish(prepared, results, time.perf_counter() - start, return_exceptions)

    def dry_run(self, query: QueryLike, candidates: Sequence[CandidateLike]) -> list[ChatRequest]:
        """The requests the method would send first for this query, without calling a model."""
        (q, cands), = self._prepare([(query, candidates)])
        return self._first_requests(q, cands[: self.depth] if self.depth else cands)

    # -- for subclasses ---------------------------------------------------------------------
    def _job(self, query: Query, candidates: list[Candidate]) -> Job[RerankResult]:
        """One query's work: a generator of engine steps (:mod:`reasonrank.scheduling`) that
        returns the query's result. Engine failures are thrown in as :class:`EngineError`."""
        raise NotImplementedError(f"{type(self).__name__} defines no job")

    def _rerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        """Rerank validated (query, candidates) pairs; one full result per pair, or in a failed
        query's place the exception it raised (see :func:`settle`)."""
        from reasonrank.cache.results import memoized_run  # a repeated query answered whole

        return memoized_run(self, items, run_jobs)

    async def _arerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        from reasonrank.cache.results import amemoized_run

        return await amemoized_run(self, items, arun_jobs)

    def uses_async(self) -> bool:
        """Whether the jobs run on the async driver (decided here, for every method)."""
        if self.schedule != "auto":
            return self.schedule == "pipeline"
        return (self.max_concurrency or self.engine.max_concurrency or 1) > 1

    def _cuts(self, items: list[Prepared]) -> tuple[list[str], int] | None:
        """The texts the run's requests will cut to a token limit, and the limit (None: none):
        :meth:`_prefetch` cuts them all in one batched engine call."""
        return None

    def _prefetch(self, items: list[Prepared]) -> None:
        """Per-run preparation before the jobs start, inside the run's passage memo. An engine
        failure here is left to the jobs (where the ``on_error`` policy applies)."""
        cuts = self._cuts(items)
        if cuts:
            prefetch_cuts(self.engine, *cuts, swallow=self.on_error != "raise")

    async def _aprefetch(self, items: list[Prepared]) -> None:
        """Async :meth:`_prefetch` (a served engine tokenizes concurrently on its server)."""
        cuts = self._cuts(items)
        if cuts:
            await aprefetch_cuts(self.engine, *cuts, swallow=self.on_error != "raise")

    def _progress_total(self, items: list[Prepared]) -> int | None:
        """How many engine requests a run makes, for the progress bar (None: unknown)."""
        return None

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[Any]:
        """The requests the query's job sends first (of a fork: each sub-job's first one)."""
        return first_requests(self._job(query, candidates))

    def keep_order_result(self, query: Query, candidates: Sequence[Candidate], reason: str,
                          engine_fallbacks: int = 1) -> RerankResult:
        """The fallback result for ``on_error="keep_order"``: input order, with a warning."""
        logger.warning("query %s: kept input order: %s", query_label(query), reason)
        return assemble_result(
            query, candidates, list(range(len(candidates))), self.method,
            warnings=[f"kept input order: {reason}"], model=self.engine.model_name,
            engine_fallbacks=engine_fallbacks,
        )

    def failure_reason(self, exc: Exception) -> str:
        """Apply the ``on_error`` policy to a failure: raise it (bad input as is, anything else as
        a :class:`ReasonRankError`), or return the warning text of a ``keep_order`` fallback."""
        if isinstance(exc, InvalidInputError) or self.on_error == "raise":
            if isinstance(exc, ReasonRankError):
                raise exc
            raise EngineError(f"{type(exc).__name__}: {exc}") from exc
        return describe_failure(exc)

    def engine_fallback(self, query: Query, where: str, exc: BaseException) -> str:
        """Apply ``on_error`` to an engine failure at ``where`` (e.g. ``"window 1-20"``): raise
        it as :class:`EngineError`, or log and return the warning for the result."""
        err = as_engine_error(exc)
        if self.on_error == "raise":
            raise EngineError(f"{where}: {err}") from err
        message = f"{where}: engine error, kept input order: {err}"
        logger.warning("query %s: %s", query_label(query), message)
        return message

    def output_fallback(self, query: Query, where: str, detail: str) -> str:
        """Apply ``on_parse_error`` to an unusable model output at ``where``: raise
        :class:`ParseError` (strict), or log and return the warning (the caller keeps the
        input order or gives the fallback score, and marks the trace ``fallback``)."""
        message = f"{where}: {detail}"
        if self.on_parse_error == "raise":
            raise ParseError(message)
        logger.warning("query %s: %s", query_label(query), message)
        return message

    # -- internals --------------------------------------------------------------------------
    def _prepare(self, items: Sequence[RerankItem]) -> list[Prepared]:
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InvalidInputError("rerank_batch takes a list of (query, candidates) pairs")
        out = []
        for n, item in enumerate(items):
            if not isinstance(item, tuple) or len(item) != 2:
                raise InvalidInputError(f"item {n} of the batch is not a (query, candidates) pair")
            out.append((coerce_query(item[0]), coerce_candidates(item[1])))
        return out

    def _finish(
        self, prepared: list[Prepared], results: list[Any], seconds: float, return_exceptions: bool = False
    ) -> list[Any]:
        """Append the un-reranked tail (beyond ``depth``) and check nothing was lost; raise the
        first failed query's error unless ``return_exceptions``."""
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed and not return_exceptions:
            raise failed[0]
        finished: list[Any] = []
        for (query, cands), result in zip(prepared, results, strict=True):
            if isinstance(result, BaseException):
                finished.append(result)
                continue
            if self.depth and len(cands) > self.depth:
                tail = cands[self.depth :]
                floor = min((r.score for r in result.ranked), default=0.0)
                n = len(result.ranked)
                for j, cand in enumerate(tail):
                    result.ranked.append(
                        RankedCandidate(cand, score=floor - (j + 1) * 1e-6, rank=n + j, input_rank=self.depth + j)
                    )
            if sorted(r.candidate.id for r in result.ranked) != sorted(c.id for c in cands):
                raise AssertionError(f"internal error: {self.method} lost or duplicated candidates")
            result.seconds = result.seconds or seconds
            finished.append(result)
        return finished

