"""What every reranking method shares: input checks, the depth split, result assembly and the
``on_error`` policy. A method implements :meth:`Reranker._rerank_many` (and, where it has a truly
concurrent path, :meth:`Reranker._arerank_many`)."""
from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from reasonrank.engines.base import ChatRequest, Engine
from reasonrank.errors import EngineError, InvalidInputError, ParseError, ReasonRankError
from reasonrank.methods.scheduler import as_engine_error
from reasonrank.types import Candidate, Query, RankedCandidate, RerankResult, Trace, Usage

OnError = Literal["raise", "keep_order"]
OnParseError = Literal["keep_order", "raise"]
T = TypeVar("T")
logger = logging.getLogger("reasonrank")
QueryLike = Query | str
CandidateLike = Candidate | Mapping[str, Any]
RerankItem = tuple[QueryLike, Sequence[CandidateLike]]
Prepared = tuple[Query, list[Candidate]]


# One function turns user input into candidates (reasonrank.inputs); re-exported here.
from reasonrank.inputs import coerce_candidate, coerce_candidates, coerce_query  # noqa: F401 - re-exported


def check_positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


def rank_score(rank: int) -> float:
    """Score derived from a 0-based rank (reciprocal rank): higher is better, strictly decreasing."""
    return 1.0 / (rank + 1)


def assemble_result(
    query: Query,
    candidates: Sequence[Candidate],
    order: Sequence[int],
    method: str,
    *,
    scores: Sequence[float] | None = None,
    traces: list[Trace] | None = None,
    warnings: list[str] | None = None,
    per_candidate: Mapping[int, Mapping[str, Any]] | None = None,
    criteria_weights: dict[str, float] | None = None,
    model: str | None = None,
    engine_fallbacks: int = 0,
) -> RerankResult:
    """Build a :class:`RerankResult` from a permutation of ``range(len(candidates))``.

    ``scores[i]`` is candidate ``i``'s score (input index); without it, scores come from rank.
    ``per_candidate[i]`` may give ``reasoning``, ``raw_output`` and ``criteria`` for candidate i.
    ``usage.fallbacks`` counts the traces marked ``fallback``; ``engine_fallbacks`` the units
    the engine failed on (kept in input order under ``on_error="keep_order"``).
    Raises ``AssertionError`` if ``order`` is not a permutation: that is a library bug.
    """
    if sorted(order) != list(range(len(candidates))):
        raise AssertionError(f"internal error: {method} produced a non-permutation {list(order)}")
    per_candidate = per_candidate or {}
    ranked = []
    for rank, idx in enumerate(order):
        extra = per_candidate.get(idx, {})
        ranked.append(
            RankedCandidate(
                candidate=candidates[idx],
                score=float(scores[idx]) if scores is not None else rank_score(rank),
                rank=rank,
                input_rank=idx,
                reasoning=extra.get("reasoning"),
                raw_output=extra.get("raw_output"),
                criteria=extra.get("criteria"),
            )
        )
    traces = traces or []
    usage = Usage(engine_fallbacks=engine_fallbacks)
    for t in traces:
        usage.add(Usage(1, t.prompt_tokens, t.completion_tokens, t.seconds, fallbacks=int(t.fallback)))
    return RerankResult(
        query=query,
        method=method,
        ranked=ranked,
        traces=traces,
        usage=usage,
        warnings=list(warnings or []),
        criteria_weights=criteria_weights,
        model=model,
    )


def stable_order_by_score(scores: Sequence[float]) -> list[int]:
    """Indices sorted by descending score; ties keep first-stage order (stable)."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


# -- the error policy ------------------------------------------------------------------------
def query_label(query: Query) -> str:
    """How errors and warnings name a query: its id, else the start of its text."""
    return repr(query.id) if query.id else repr(query.text[:60])


def engine_call(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` (request building: token counting, truncation, rendering) so that any
    failure of the engine comes out as :class:`EngineError`, the one type ``on_error`` handles.
    The library's own errors (:class:`PromptTooLongError`, :class:`InvalidInputError`: the
    caller's settings, never an engine fault) and internal ``AssertionError`` pass unchanged."""
    try:
        return fn(*args)
    except (ReasonRankError, AssertionError):
        raise
    except Exception as exc:  # noqa: BLE001 - a tokenizer or HTTP client failure is an engine fault
        raise as_engine_error(exc) from exc


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


def settle(job: Generator[ChatRequest, Any, T], query: Query) -> Generator[ChatRequest, Any, T | Exception]:
    """A scheduler job that returns its failure (named for ``query``) instead of raising it,
    so one query's error never discards the other queries' finished results."""
    try:
        return (yield from job)
    except Exception as exc:  # noqa: BLE001 - handed back as this query's result
        return with_query(exc, query)


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
        Show a progress bar over queries for long batches.
    """

    method: ClassVar[str] = "base"

    def __init__(
        self,
        engine: Engine,
        *,
        on_error: OnError = "raise",
        on_parse_error: OnParseError = "keep_order",
        depth: int | None = None,
        show_progress: bool = False,
    ) -> None:
        if not isinstance(engine, Engine):
            raise InvalidInputError(f"engine must be an Engine, got {type(engine).__name__}")
        if on_error not in ("raise", "keep_order"):
            raise InvalidInputError(f"on_error must be 'raise' or 'keep_order', got {on_error!r}")
        if on_parse_error not in ("raise", "keep_order"):
            raise InvalidInputError(f"on_parse_error must be 'raise' or 'keep_order', got {on_parse_error!r}")
        check_positive("depth", depth)
        self.engine = engine
        self.on_error: OnError = on_error
        self.on_parse_error: OnParseError = on_parse_error
        self.depth = depth
        self.show_progress = show_progress

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
    @abstractmethod
    def _rerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        """Rerank validated (query, candidates) pairs; one full result per pair, or in a failed
        query's place the exception it raised (see :func:`settle`)."""

    async def _arerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        return await asyncio.to_thread(self._rerank_many, items)

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[ChatRequest]:
        raise NotImplementedError(f"{type(self).__name__} has no dry run")

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
        return f"{type(exc).__name__}: {exc}"

    def each_query(
        self, items: Iterable[Prepared], rerank_one: Callable[[Query, list[Candidate]], RerankResult]
    ) -> list[RerankResult]:
        """Rerank queries one at a time under the ``on_error`` policy (one-pass methods)."""
        results = []
        for query, cands in items:
            start = time.perf_counter()
            try:
                result = rerank_one(query, cands)
            except Exception as exc:  # noqa: BLE001 - the policy decides: raise or keep order
                result = self.keep_order_result(query, cands, self.failure_reason(exc))
            result.seconds = time.perf_counter() - start
            results.append(result)
        return results

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
