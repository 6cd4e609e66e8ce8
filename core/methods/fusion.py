"""Fusion with the first stage: an option of every method (``fusion="rrf"`` or ``"score"``).

A small reranker carries a weak relevance signal; mixing it with the first-stage ranking keeps
what the retriever already got right. Two rules, both per query over the reranked candidates:

- ``"rrf"``: weighted reciprocal rank fusion (Cormack et al. 2009), ``w / (k + r_method) +
  (1 - w) / (k + r_first)`` with 1-based ranks and ``k = 60``;
- ``"score"``: min-max normalised score interpolation, ``w * s_method + (1 - w) * s_first``;
  the first-stage score is the candidates' ``score`` when all have one, else their reciprocal
  input rank.

``weight`` is the reranker's share. :class:`FusedReranker` wraps any :class:`Reranker`; the
factory builds it when a preset or caller passes ``fusion=`` (``fusion_weight=``, ``rrf_k=``).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from reasonrank.engines.base import Engine
from reasonrank.errors import InvalidInputError
from reasonrank.methods.base import Reranker, RerankItem
from reasonrank.scheduling import SchedulerStats
from reasonrank.types import RerankResult

FusionKind = Literal["rrf", "score"]
FUSION_KINDS = ("rrf", "score")


def _minmax(values: Sequence[float]) -> list[float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return [0.0] * len(values)
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v in values:
        if math.isnan(v) or v == -math.inf:
            out.append(0.0)
        elif v == math.inf:
            out.append(1.0)
        else:
            out.append((v - lo) / span if span > 0 else 0.5)
    return out


def fuse(
    method_ranks: Sequence[int],
    first_ranks: Sequence[int],
    *,
    kind: FusionKind = "rrf",
    weight: float = 0.5,
    rrf_k: float = 60.0,
    method_scores: Sequence[float] | None = None,
    first_scores: Sequence[float | None] | None = None,
) -> list[float]:
    """Fused scores of ``n`` candidates (index-aligned inputs; ranks 0-based)."""
    n = len(method_ranks)
    if kind == "rrf":
        return [weight / (rrf_k + method_ranks[i] + 1) + (1 - weight) / (rrf_k + first_ranks[i] + 1) for i in range(n)]
    if kind != "score":
        raise InvalidInputError(f"fusion must be one of {FUSION_KINDS}, got {kind!r}")
    ms = list(method_scores) if method_scores is not None else [1.0 / (r + 1) for r in method_ranks]
    if first_scores is not None and all(s is not None for s in first_scores):
        fs = [float(s) for s in first_scores]  # type: ignore[arg-type]
    else:
        fs = [1.0 / (r + 1) for r in first_ranks]
    nm, nf = _minmax(ms), _minmax(fs)
    return [weight * nm[i] + (1 - weight) * nf[i] for i in range(n)]


class FusedReranker(Reranker):
    """Any reranker, its order fused with the first stage's (see the module docstring).

    Parameters
    ----------
    inner:
        The reranker whose results are fused.
    fusion:
        ``"rrf"`` or ``"score"``.
    weight:
        The reranker's share in [0, 1] (1: the reranker alone, 0: the first stage alone).
    rrf_k:
        RRF's constant (60).
    """

    result_fields = ("inner", "fusion", "weight", "rrf_k")

    def __init__(self, inner: Reranker, *, fusion: FusionKind = "rrf", weight: float = 0.5, rrf_k: float = 60.0) -> None:
        if not isinstance(inner, Reranker):
            raise InvalidInputError(f"inner must be a Reranker, got {type(inner).__name__}")
        if fusion not in FUSION_KINDS:
            raise InvalidInputError(f"fusion must be one of {FUSION_KINDS}, got {fusion!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise InvalidInputError(f"fusion_weight must be a number in [0, 1], got {weight!r}")
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) or rrf_k < 0:
            raise InvalidInputError(f"rrf_k must be a number >= 0, got {rrf_k!r}")
        self.inner = inner
        self.fusion: FusionKind = fusion
        self.weight = float(weight)
        self.rrf_k = float(rrf_k)
        self.method = f"{inner.method}+{fusion}"  # type: ignore[misc]
        super().__init__(inner.engine, on_error=inner.on_error, on_parse_error=inner.on_parse_error,
                         depth=inner.depth, show_progress=inner.show_progress)

    def _rebuilt(self, wrap: Callable[[Engine], Engine]) -> Reranker:
        clone = copy.copy(self)
        clone.inner = self.inner._rebuilt(wrap)
        clone._engine = clone.inner.engine  # the inner reranker's engine, as when built
        return clone

    @property  # type: ignore[override]
    def last_stats(self) -> SchedulerStats | None:
        """The inner reranker's scheduler stats of its latest batch."""
        return self.inner.last_stats

    @last_stats.setter
    def last_stats(self, value: SchedulerStats | None) -> None:
        self.inner.last_stats = value

    def rerank_batch(self, items: Sequence[RerankItem], *, return_exceptions: bool = False) -> list[Any]:
        return self._fuse_all(self.inner.rerank_batch(items, return_exceptions=return_exceptions))

    async def arerank_batch(self, items: Sequence[RerankItem], *, return_exceptions: bool = False) -> list[Any]:
        return self._fuse_all(await self.inner.arerank_batch(items, return_exceptions=return_exceptions))

    def _fuse_all(self, results: list[Any]) -> list[Any]:
        # With ``return_exceptions`` a failed query's error stands in its place: pass it through.
        return [r if isinstance(r, BaseException) else self.fuse_result(r) for r in results]

    def _first_requests(self, query, candidates):  # type: ignore[no-untyped-def]
        return self.inner._first_requests(query, candidates)

    def fuse_result(self, result: RerankResult) -> RerankResult:
        """``result`` with its reranked head reordered by the fused score (the tail beyond
        ``depth`` stays where it is, below the head)."""
        head_n = len(result.ranked) if not self.depth else min(self.depth, len(result.ranked))
        head = result.ranked[:head_n]
        scores = fuse(
            [r.rank for r in head],
            [r.input_rank for r in head],
            kind=self.fusion,
            weight=self.weight,
            rrf_k=self.rrf_k,
            method_scores=[r.score for r in head],
            first_scores=[r.candidate.score for r in head],
        )
        order = sorted(range(head_n), key=lambda i: (-scores[i], head[i].input_rank))
        fused = []
        for new_rank, i in enumerate(order):
            r = head[i]
            note = f"fused ({self.fusion}, weight {self.weight:g}): method rank {r.rank + 1}, first-stage rank {r.input_rank + 1}"
            reasoning = f"{r.reasoning}; {note}" if r.reasoning else note
            fused.append(replace(r, score=scores[i], rank=new_rank, reasoning=reasoning))
        floor = min((r.score for r in fused), default=0.0)
        tail = [replace(r, score=floor - (j + 1) * 1e-6, rank=head_n + j) for j, r in enumerate(result.ranked[head_n:])]
        result.ranked = fused + tail
        result.method = self.method
        return result
