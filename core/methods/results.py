"""Building a :class:`~reasonrank.types.RerankResult` from a method's order and scores."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reasonrank.types import Candidate, Query, RankedCandidate, RerankResult, Trace, Usage


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
        if t.cached:  # usage counts what the engine did: a unit the cache answered cost no call
            usage.fallbacks += int(t.fallback)
        else:
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
