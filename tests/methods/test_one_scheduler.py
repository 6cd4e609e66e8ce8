"""Every method runs on the one scheduler: requests of different queries share engine calls on a
sync engine, the async driver is chosen once in the base class, and REBEL's two turns run
without phase lockstep."""
from __future__ import annotations

import asyncio
import re

import pytest
from reasonrank.engines.base import AttentionReadout, ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods import METHODS, method_class
from reasonrank.methods.multicriteria import RebelReranker

DOCS = [{"id": f"d{i}", "text": f"passage number {i} about topic {i}"} for i in range(5)]
QUERIES = ["first query", "second query", "third query"]
META_MARK = "decide which secondary"


def _answer(request: ChatRequest) -> str:
    text = request.messages[-1]["content"]
    if META_MARK in text:
        return "<think>t</think><answer>relevance: 0.5 - answers it\nclarity: 0.5 - clear</answer>"
    if "Score the passage" in text:
        return "<think>t</think><answer>relevance: 5\nclarity: 3</answer>"
    if "most relevant?" in text:  # setwise: pick the first
        return "<think>t</think><answer>[1]</answer>"
    n = len(re.findall(r"^\[\d+\] ", text, re.MULTILINE))
    return f"<think>t</think><answer>{' > '.join(f'[{i}]' for i in range(n, 0, -1))}</answer>"


class Scripted(ScriptedEngine):
    """A scripted engine with every request kind (attention: one weight per word)."""

    supports_attention = True

    def attention(self, requests):
        self._record("attention", requests)
        return [AttentionReadout(weights=[[[1.0] * max(1, len(s.split())) for s in r.segments] for _ in r.probes],
                                 tokens=[s.split() or [""] for s in r.segments]) for r in requests]


def engine(name: str = "", **kw) -> Scripted:
    """The scripted engine for method ``name`` (a scripted encoder for dense and cross)."""
    kind = name if name in ("dense", "cross") else None
    return Scripted(_answer, lambda r, choices: {c: -float(i) for i, c in enumerate(choices)}, encoder_kind=kind, **kw)


OPTIONS = {"listwise": {"window_size": 5, "stride": 5}, "setwise": {"set_size": 3, "top_k": 2},
           "pointwise": {"reasoning_budget": 16}, "first": {"window_size": 5, "stride": 5}}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_batches_queries_together_on_a_sync_engine(name: str) -> None:
    eng = engine(name, max_batch_size=64, max_concurrency=1)
    reranker = method_class(name)(eng, **OPTIONS.get(name, {}))
    assert not reranker.uses_async()
    results = reranker.rerank_batch([(q, DOCS) for q in QUERIES])
    assert all(sorted(r.ids) == sorted(d["id"] for d in DOCS) for r in results)
    stats = reranker.last_stats
    assert stats is not None and stats.requests == sum(len(b) for _, b in eng.calls)
    # the first engine call carries the first request of every query
    assert stats.max_in_flight >= len(QUERIES) and stats.calls < stats.requests
    assert {j for j, _ in stats.submissions} == {0, 1, 2}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_runs_on_the_async_driver_when_the_engine_is_concurrent(name: str) -> None:
    eng = engine(name, max_batch_size=1, max_concurrency=4, delay_fn=lambda r: 0.01)
    reranker = method_class(name)(eng, **OPTIONS.get(name, {}))
    assert reranker.uses_async()
    results = asyncio.run(reranker.arerank_batch([(q, DOCS) for q in QUERIES]))
    assert all(sorted(r.ids) == sorted(d["id"] for d in DOCS) for r in results)
    stats = reranker.last_stats
    assert stats.calls == stats.requests and 1 < stats.max_in_flight <= 4
    # sync callers get the same async schedule (run in its own loop)
    again = reranker.rerank_batch([(q, DOCS) for q in QUERIES])
    assert [r.ids for r in again] == [r.ids for r in results]


def test_rebel_two_turn_has_no_phase_lockstep() -> None:
    """One query's slow criteria turn does not hold back another query's scoring: the fast
    query's scoring requests all go out before the slow query's criteria turn returns."""
    slow = 1.0

    def delay(request: ChatRequest) -> float:
        text = request.messages[-1]["content"]
        return slow if META_MARK in text and "slow query" in text else 0.01

    eng = engine(max_batch_size=1, max_concurrency=8, delay_fn=delay)
    reranker = RebelReranker(eng, two_turn=True)
    results = reranker.rerank_batch([("slow query", DOCS), ("fast query", DOCS)])
    assert all(r.traces[0].kind == "criteria" for r in results)
    subs = reranker.last_stats.submissions
    fast = [t for j, t in subs if j == 1]
    slow_scoring = sorted(t for j, t in subs if j == 0)[1:]
    assert len(fast) == 1 + len(DOCS) and len(slow_scoring) == len(DOCS)
    assert max(fast) < slow <= min(slow_scoring)


def test_rebel_two_turn_on_a_sync_engine_scores_as_soon_as_its_criteria_return() -> None:
    """Batched: both criteria turns share the first call; every query's scoring follows at once."""
    eng = engine(max_batch_size=64, max_concurrency=1)
    reranker = RebelReranker(eng, two_turn=True)
    reranker.rerank_batch([("a query", DOCS), ("b query", DOCS[:2])])
    assert [len(b) for _, b in eng.calls] == [2, len(DOCS) + 2]
