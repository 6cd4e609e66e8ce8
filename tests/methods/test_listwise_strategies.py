"""Listwise window strategies (issue 28): ``sliding`` (official) and ``partition`` (top-down
partitioning, Parry et al. SIGIR 2024). Scripted engines; one test on the tiny real model."""
from __future__ import annotations

import asyncio
import random
import re
from collections import defaultdict

import pytest
from reasonrank.engines.base import ChatRequest, Generation, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError, InvalidInputError, ParseError
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.listwise_strategies import STRATEGIES
from reasonrank.spec import RerankerSpec
from reasonrank.testing.oracle import oracle_answer, oracle_candidates, window_ids

SMALL = {"max_passage_tokens": 8}


def _ids(n: int) -> list[str]:
    return [f"d{i}" for i in range(n)]


def _grades(n: int, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    return {d: rng.random() for d in _ids(n)}


@pytest.mark.parametrize("n", [3, 20, 37, 100])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_exact_oracle_every_id_once_and_true_top(name: str, n: int) -> None:
    # Grades decrease slowly down the list (a decent first stage), so the pivot's round finds
    # the true top 10 within the budget.
    grades = {d: (n - i) + random.Random(i).random() * 15 for i, d in enumerate(_ids(n))}
    engine = ScriptedEngine(oracle_answer(grades), max_concurrency=1)
    result = ListwiseReranker(engine, strategy=name, **SMALL).rerank("q", oracle_candidates(_ids(n)))
    got = [r.candidate.id for r in result.ranked]
    assert sorted(got) == sorted(_ids(n))
    assert got[:10] == sorted(_ids(n), key=lambda d: -grades[d])[:10]


def test_window_counts_for_small_exact_and_ragged_depths() -> None:
    def calls(n: int) -> list[int]:
        engine = ScriptedEngine(oracle_answer(_grades(n)), max_concurrency=1)
        ListwiseReranker(engine, strategy="partition", **SMALL).rerank("q", oracle_candidates(_ids(n)))
        return [len(reqs) for _, reqs in engine.calls]

    assert calls(5) == [1]  # below one window: one window
    assert calls(20) == [1]  # exactly one window
    ragged = calls(37)  # first window, then 17 passages + the pivot, then maybe one more window
    assert ragged[:2] == [1, 1] and len(ragged) <= 3
    assert calls(100)[:2] == [1, 5]  # 80 passages in windows of 19 + the pivot, sent together


def _fuzzed(rng: random.Random):
    def answer(request: ChatRequest) -> str:
        m = len(window_ids(request)) or 1
        kind = rng.randrange(6)
        if kind == 0:
            return ""
        if kind == 1:
            return "<think>" + "x " * rng.randint(0, 30)  # cut before any answer
        labels = [rng.randint(-2, m + 3) for _ in range(rng.randint(0, m + 4))]
        if kind == 2:
            labels = rng.sample(range(1, m + 1), m)
        body = rng.choice([" > ", ",", " "]).join(f"[{x}]" for x in labels)
        return f"<think>hm</think><answer>{body}</answer>" if kind != 5 else body
    return answer


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_fuzzed_outputs_and_engine_faults_return_every_id_once(name: str) -> None:
    rng = random.Random(28)
    fuzz = _fuzzed(rng)

    def answer(request: ChatRequest) -> str:
        if rng.random() < 0.1:
            raise RuntimeError("injected engine fault")
        return fuzz(request)

    for trial in range(60):
        n = rng.choice([1, 2, 7, 19, 20, 21, 39, 40, 63])
        window = rng.choice([3, 5, 20])
        pivot = rng.randint(1, window - 1)
        options = {"strategy": name, "window_size": window, "stride": max(1, window // 2),
                   "pivot": pivot, "partition_budget": rng.randint(pivot, 3 * window), **SMALL}
        engine = ScriptedEngine(answer, max_concurrency=rng.choice([1, 8]))
        reranker = ListwiseReranker(engine, on_error="keep_order", **options)
        result = reranker.rerank(f"q{trial}", oracle_candidates(_ids(n)))
        assert sorted(r.candidate.id for r in result.ranked) == sorted(_ids(n)), options


class _InFlightPerQuery(ScriptedEngine):
    """Records, per query, the most requests in flight at once."""

    def __init__(self) -> None:
        super().__init__(oracle_answer(_grades(100)), max_batch_size=1, max_concurrency=64,
                         delay_fn=lambda r: 0.05)
        self.now: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)

    async def agenerate(self, requests: list[ChatRequest], params: SamplingParams) -> list[Generation]:
        keys = [re.search(r"search query: (\w+)", r.messages[-1]["content"]).group(1) for r in requests]
        for k in keys:
            self.now[k] += 1
            self.peak[k] = max(self.peak[k], self.now[k])
        try:
            return await super().agenerate(requests, params)
        finally:
            for k in keys:
                self.now[k] -= 1


def test_partition_sends_a_querys_independent_windows_concurrently() -> None:
    items = [(f"query{i}", oracle_candidates(_ids(100))) for i in range(3)]
    engine = _InFlightPerQuery()
    results = asyncio.run(ListwiseReranker(engine, strategy="partition", **SMALL).arerank_batch(items))
    assert all(len(r.ranked) == 100 for r in results)
    assert dict(engine.peak) == {f"query{i}": 5 for i in range(3)}  # the round's five windows at once
    assert engine.max_in_flight_seen >= 15  # and the queries still pipeline together

    sliding = _InFlightPerQuery()
    asyncio.run(ListwiseReranker(sliding, **SMALL).arerank_batch(items))
    assert set(sliding.peak.values()) == {1}


@pytest.mark.parametrize("options", [
    {"strategy": "tournament"}, {"strategy": None}, {"strategy": "partition", "pivot": 20},
    {"strategy": "partition", "pivot": 0}, {"strategy": "partition", "pivot": 10, "partition_budget": 5},
    {"strategy": "partition", "window_size": 1, "stride": 1, "pivot": 1},
    {"strategy": "partition", "partition_fill": "best"},
])
def test_bad_options_fail_before_any_engine_call(options: dict) -> None:
    engine = ScriptedEngine(lambda r: "<answer>[1]</answer>")
    with pytest.raises(InvalidInputError):
        ListwiseReranker(engine, **options)
    with pytest.raises(InvalidInputError):
        RerankerSpec(method="listwise", engine=engine, method_options=options).build()
    assert engine.calls == []


def test_partition_policies_match_the_sliding_window() -> None:
    def failing(request: ChatRequest) -> str:
        if "d45" in window_ids(request):
            raise RuntimeError("boom")
        return oracle_answer(_grades(100))(request)

    cands = oracle_candidates(_ids(100))
    with pytest.raises(EngineError):
        ListwiseReranker(ScriptedEngine(failing), strategy="partition", **SMALL).rerank("q", cands)
    kept = ListwiseReranker(ScriptedEngine(failing), strategy="partition", on_error="keep_order", **SMALL)
    result = kept.rerank("q", cands)
    assert sorted(r.candidate.id for r in result.ranked) == sorted(_ids(100))
    assert result.usage.engine_fallbacks == 1 and any("engine error" in w for w in result.warnings)
    garbage = ScriptedEngine(lambda r: "no answer at all")
    with pytest.raises(ParseError):
        ListwiseReranker(garbage, strategy="partition", on_parse_error="raise", **SMALL).rerank("q", cands)
    lenient = ListwiseReranker(ScriptedEngine(lambda r: "no answer"), strategy="partition", **SMALL)
    assert [r.candidate.id for r in lenient.rerank("q", cands).ranked] == _ids(100)  # input order kept


def test_dry_run_shows_each_strategys_first_window() -> None:
    engine = ScriptedEngine()
    cands = oracle_candidates(_ids(100))
    (sliding,) = ListwiseReranker(engine, **SMALL).dry_run("q", cands)
    (partition,) = ListwiseReranker(engine, strategy="partition", **SMALL).dry_run("q", cands)
    assert window_ids(sliding) == _ids(100)[80:]
    assert window_ids(partition) == _ids(100)[:20]


def test_partition_on_the_tiny_real_model(tiny_engine) -> None:
    reranker = ListwiseReranker(tiny_engine, strategy="partition", window_size=6, stride=3, pivot=3,
                                reasoning_budget=8, answer_tokens=8, max_passage_tokens=8)
    result = reranker.rerank("what is a pivot", [f"passage number {i} about pivots" for i in range(14)])
    assert sorted(r.candidate.id for r in result.ranked) == sorted(str(i) for i in range(14))
    assert len(result.traces) >= 2
