"""Cascades: a cheap stage reranks the first stage's top candidates, an expensive one only the
cheap stage's top — e.g. relevance logits or ICR over the top-100, listwise reasoning over the
top-20 (``CascadeReranker(stages=[cheap, expensive], depths=[100, 20])``).

Stage ``i`` reranks the first ``depths[i]`` candidates of the order the stages before it left;
candidates below a stage's depth keep that earlier order after the reranked ones, so every
candidate comes back exactly once. Depths may not grow from one stage to the next.

**Adaptive** (``adaptive=True``): a query skips the later stages when the stage just run is
confident, by a documented rule — its top ``agree_top`` candidates are the same set as the
first stage's top ``agree_top`` (two independent signals agree at the top: the expensive stage
would mostly reorder within an agreed head), or, with ``margin`` set, its min-max normalised
score gap between ranks 1 and 2 is at least ``margin``. ``result.stages`` lists, per query, the
stages that ran.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

from reasonrank.engines.base import Engine
from reasonrank.errors import InvalidInputError
from reasonrank.inputs import coerce_candidates, coerce_query
from reasonrank.methods.base import Reranker, RerankItem
from reasonrank.methods.results import rank_score
from reasonrank.scheduling import SchedulerStats
from reasonrank.types import Candidate, Query, RankedCandidate, RerankResult, Usage


def score_margin(scores: Sequence[float]) -> float | None:
    """The adaptive rule's margin: the gap between the first two scores (in rank order), min-max
    normalised over the finite scores; ``None`` when there is no spread to normalise by."""
    finite = [x for x in scores if math.isfinite(x)]
    if len(finite) < 2 or max(finite) == min(finite):
        return None
    return (scores[0] - scores[1]) / (max(finite) - min(finite))


def check_depths(depths: Sequence[int], n_stages: int) -> list[int]:
    """``depths`` checked: one positive integer per stage, none larger than the one before."""
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence) or len(depths) != n_stages:
        raise InvalidInputError(f"a cascade needs one depth per stage ({n_stages}), got {depths!r}")
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InvalidInputError(f"cascade depths must be positive integers, got {d!r}")
    for i in range(1, len(depths)):
        if depths[i] > depths[i - 1]:
            raise InvalidInputError(f"cascade depths may not grow from one stage to the next: {list(depths)} "
                                    f"(stage {i + 1} reranks only what stage {i} ranked)")
    return list(depths)


class _Query:
    """One query's state through the stages."""

    def __init__(self, query: Query, cands: list[Candidate]) -> None:
        self.query, self.cands = query, cands
        self.order: list[Candidate] = list(cands)
        self.reasoning: dict[str, str | None] = {}
        self.usage, self.traces, self.warnings = Usage(), [], []  # type: ignore[var-annotated]
        self.stages: list[str] = []
        self.error: BaseException | None = None
        self.done = False


class CascadeReranker(Reranker):
    """Rerankers in sequence, each over the previous one's top (see the module docstring)."""

    method = "cascade"
    result_fields = ("stages", "depths", "adaptive", "agree_top", "margin")

    def __init__(self, stages: Sequence[Reranker], depths: Sequence[int], *, adaptive: bool = False,
                 agree_top: int = 3, margin: float | None = None) -> None:
        if isinstance(stages, Reranker) or not stages or not all(isinstance(s, Reranker) for s in stages):
            raise InvalidInputError("a cascade's stages must be a non-empty list of rerankers")
        self.stages = list(stages)
        self.depths = check_depths(depths, len(self.stages))
        if isinstance(agree_top, bool) or not isinstance(agree_top, int) or agree_top < 1:
            raise InvalidInputError(f"agree_top must be a positive integer, got {agree_top!r}")
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                                   or not 0 <= margin <= 1):
            raise InvalidInputError(f"margin must be a number in [0, 1], got {margin!r}")
        self.adaptive, self.agree_top, self.margin = bool(adaptive), agree_top, margin
        last = self.stages[-1]
        super().__init__(last.engine, on_error=last.on_error, on_parse_error=last.on_parse_error,
                         depth=self.depths[0])
        self.method = "cascade(" + ">".join(s.method for s in self.stages) + ")"  # type: ignore[misc]

    def _rebuilt(self, wrap: Callable[[Engine], Engine]) -> Reranker:
        clone = copy.copy(self)
        clone.stages = [stage._rebuilt(wrap) for stage in self.stages]  # one engine stays one
        clone._engine = clone.stages[-1].engine  # the last stage's, as when built
        return clone

    @property  # type: ignore[override]
    def last_stats(self) -> SchedulerStats | None:
        return self.stages[-1].last_stats

    @last_stats.setter
    def last_stats(self, value: SchedulerStats | None) -> None:
        if hasattr(self, "stages"):
            self.stages[-1].last_stats = value

    # -- running ----------------------------------------------------------------------------
    def rerank_batch(self, items: Sequence[RerankItem], *, return_exceptions: bool = False) -> list[Any]:
        states = self._states(items)
        for i, stage in enumerate(self.stages):
            batch = self._batch(states, i)
            if batch:
                self._apply(batch, i, stage.rerank_batch([(s.query, s.order[: self.depths[i]]) for s in batch],
                                                         return_exceptions=True))
        return self._results(states, return_exceptions)

    async def arerank_batch(self, items: Sequence[RerankItem], *, return_exceptions: bool = False) -> list[Any]:
        states = self._states(items)
        for i, stage in enumerate(self.stages):
            batch = self._batch(states, i)
            if batch:
                replies = await stage.arerank_batch([(s.query, s.order[: self.depths[i]]) for s in batch],
                                                    return_exceptions=True)
                self._apply(batch, i, replies)
        return self._results(states, return_exceptions)

    def _states(self, items: Sequence[RerankItem]) -> list[_Query]:
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InvalidInputError("rerank_batch takes a list of (query, candidates) pairs")
        return [_Query(coerce_query(q), coerce_candidates(c)) for q, c in items]

    def _batch(self, states: list[_Query], stage: int) -> list[_Query]:
        return [s for s in states if not s.done and s.error is None and s.order]

    def _apply(self, batch: list[_Query], index: int, replies: list[Any]) -> None:
        """Each query's order after stage ``index``: its ranking of the head, then the rest."""
        depth = self.depths[index]
        for state, reply in zip(batch, replies, strict=True):
            if isinstance(reply, BaseException):
                state.error = reply
                continue
            head = [r.candidate for r in reply.ranked]
            state.order = head + state.order[depth:]
            state.reasoning.update({r.candidate.id: r.reasoning for r in reply.ranked if r.reasoning})
            state.usage.add(reply.usage)
            state.traces.extend(reply.traces)
            state.warnings.extend(reply.warnings)
            state.stages.append(self.stages[index].method)
            if self.adaptive and index + 1 < len(self.stages) and self.confident(state.cands, reply):
                state.done = True

    def confident(self, first_stage: list[Candidate], result: RerankResult) -> bool:
        """The adaptive rule (module docstring): top-``agree_top`` agreement with the first
        stage, or a score margin between ranks 1 and 2 of at least ``margin``."""
        k = min(self.agree_top, len(result.ranked))
        if k and {r.candidate.id for r in result.ranked[:k]} == {c.id for c in first_stage[:k]}:
            return True
        if self.margin is None or len(result.ranked) < 2:
            return False
        gap = score_margin([r.score for r in result.ranked])
        return gap is not None and gap >= self.margin

    def _results(self, states: list[_Query], return_exceptions: bool) -> list[Any]:
        out: list[Any] = []
        for s in states:
            if s.error is not None:
                if not return_exceptions:
                    raise s.error
                out.append(s.error)
                continue
            index = {c.id: i for i, c in enumerate(s.cands)}
            ranked = [RankedCandidate(c, score=rank_score(r), rank=r, input_rank=index[c.id],
                                      reasoning=s.reasoning.get(c.id)) for r, c in enumerate(s.order)]
            out.append(RerankResult(query=s.query, method=self.method, ranked=ranked, traces=s.traces,
                                    usage=s.usage, warnings=s.warnings, model=self.stages[-1].engine.model_name,
                                    stages=list(s.stages)))
        return out

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[Any]:
        return self.stages[0]._first_requests(query, candidates[: self.depths[0]])


__all__ = ["CascadeReranker", "check_depths", "score_margin"]
