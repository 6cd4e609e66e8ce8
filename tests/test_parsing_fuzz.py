"""Fuzzing at volume: at least 10,000 seeded random model outputs per method through the
scheduler. Under the default policy the result is always a permutation of the input with finite
scores, and nothing raises; with engine faults injected under ``on_error="keep_order"`` too.
The scripted engine stands in for the model (this tests orchestration and parsing, not a model)."""
from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

import pytest
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods import method_class

pytestmark = pytest.mark.reliability

SEED = 13
TARGET = 10_000
CRITERIA = ["relevance", "depth", "recency", "authority", "clarity", "Relevance", "source authority", "bogus"]
# Per method: candidates per query and settings that keep each unit small (many units per second).
SETUP = {
    "listwise": (9, {"window_size": 5, "stride": 2, "max_passage_tokens": 8}),
    "pointwise": (10, {"max_passage_tokens": 8, "reasoning_budget": 64}),
    "rebel": (10, {"max_passage_tokens": 8}),
    "setwise": (7, {"set_size": 3, "top_k": 3, "max_passage_tokens": 8}),
}


def _number(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(-3, 25)), str(rng.randint(0, 10**12)), "0", "-1", "03", "1.5",
                       "NaN", "inf", "1e309", "", "٣", "²"])


def _ids(rng: random.Random) -> str:
    labels = [f"[{_number(rng)}]" if rng.random() < 0.85 else _number(rng) for _ in range(rng.randint(0, 25))]
    return rng.choice([" > ", ">", ", ", " ", " = ", "\n"]).join(labels)


def _scores(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(0, 7)):
        value = rng.choice([_number(rng), f"{_number(rng)}/{_number(rng)}", "high", "[7]", "**5**"])
        lines.append(f"{rng.choice(['', '- ', '* ', '1. '])}{rng.choice(CRITERIA)}{rng.choice([':', '=', ' -'])} {value}")
    return "\n".join(lines)


def _junk(rng: random.Random) -> str:
    alphabet = "[]<>/0123456789 ,.:=-\n\t\"'{}|\\thinkanswer\u200b\ufffd\u202e\x00é中"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))


def random_output(rng: random.Random) -> str:
    """One model output: well-formed, damaged, truncated, or hostile."""
    think = rng.choice(["", "<think>", "<think>reasoning about [3] and [1]", "<think>ok</think>",
                        "</think>", "<THINK>x</THINK>", "<think><think>nested</think>"])
    body = rng.choice([_ids, _scores, _junk])(rng)
    shape = rng.randrange(8)
    if shape == 0:
        return ""
    if shape == 1:
        return _junk(rng)
    if shape == 2:  # budget exhausted inside the reasoning
        return "<think>" + _junk(rng) + " [2] > [1]"
    if shape == 3:
        return f"{think}<answer>{body}"  # answer never closed
    if shape == 4:
        return f"{think}\n<answer>{body}</answer>{rng.choice(['', '<answer>[1]</answer>', '</answer>'])}"
    if shape == 5:
        return body
    if shape == 6:
        return f"{think}{body}" * rng.randint(1, 3)
    return f"<think>{_junk(rng)}</think>\n<answer>{_ids(rng)}</answer>\n{_scores(rng)}"


def random_logprobs(rng: random.Random) -> Callable[[ChatRequest, list[str]], dict[str, float]]:
    def fn(request: ChatRequest, choices) -> dict[str, float]:
        pick = [-math.inf, math.nan, math.inf, 0.0, -1e308, 5.0, -0.01]
        return {c: (rng.choice(pick) if rng.random() < 0.3 else -rng.random() * 20) for c in choices}
    return fn


def fuzz(method: str, *, fault_rate: float = 0.0, on_error: str = "raise", target: int = TARGET) -> int:
    rng = random.Random(f"{SEED}-{method}-{fault_rate}")
    produced = [0]

    def generate(request: ChatRequest) -> str:
        produced[0] += 1
        if fault_rate and rng.random() < fault_rate:
            raise RuntimeError("injected engine fault")
        return random_output(rng)

    n, options = SETUP[method]
    engine = ScriptedEngine(generate, logprob_fn=random_logprobs(rng), max_batch_size=32, max_concurrency=1)
    reranker = method_class(method)(engine, on_error=on_error, **options)
    round_ = 0
    while produced[0] < target:
        batch = []
        for q in range(100):
            # Plain passages: the outputs are what is fuzzed (hostile passages have their own tests).
            docs = [{"id": f"r{round_}q{q}d{i}", "text": f"passage {i} of query {q}"} for i in range(n)]
            batch.append((f"query {round_}-{q}", docs))
        results = reranker.rerank_batch(batch)  # never raises under this policy
        for (_, docs), result in zip(batch, results):
            assert sorted(result.ids) == sorted(d["id"] for d in docs) and len(result.ids) == n
            assert all(math.isfinite(r.score) for r in result.ranked)
        round_ += 1
    return produced[0]


@pytest.fixture(autouse=True)
def quiet_fallback_logs(caplog):
    caplog.set_level(logging.ERROR, logger="reasonrank")  # 10,000 fallback warnings are expected


@pytest.mark.parametrize("method", list(SETUP))
def test_ten_thousand_random_outputs_always_give_a_permutation(method: str) -> None:
    assert fuzz(method) >= TARGET


@pytest.mark.parametrize("method", list(SETUP))
def test_random_engine_faults_under_keep_order_give_a_permutation(method: str) -> None:
    assert fuzz(method, fault_rate=0.05, on_error="keep_order", target=2_000) >= 2_000
