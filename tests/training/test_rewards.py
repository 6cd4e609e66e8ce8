"""Reward functions against hand-computed values (official ReasonRank compute_score semantics)."""
from __future__ import annotations

import math

import pytest

pytest.importorskip("pytrec_eval")

from reasonrank.training.rewards import (
    format_reward,
    format_rewards,
    listwise_reward,
    listwise_rewards,
    pointwise_reward,
    rbo_similarity,
)

IDS = ["d1", "d2", "d3", "d4", "d5"]
REL = ["d1", "d2"]
GOLD = "[1] > [2] > [3] > [4] > [5]"
IDCG = 1 + 1 / math.log2(3)


def wrap(answer: str) -> str:
    return f"<think>d1 and d2 answer the query.</think>\n<answer>{answer}</answer>"


# Hand computation: binary gains, DCG = sum 1/log2(rank+1); recall@10 over 2 relevant docs;
# RBO with p=1 is the mean overlap fraction at depths 1..5.
REVERSED_NDCG = (1 / math.log2(5) + 1 / math.log2(6)) / IDCG
REVERSED_RBO = (0 + 0 + 1 / 3 + 3 / 4 + 1) / 5
PARTIAL_NDCG = (1 / math.log2(2) + 1 / math.log2(4)) / IDCG  # [1] > [3] > [2] > ...
PARTIAL_RBO = (1 + 1 / 2 + 1 + 1 + 1) / 5

CASES = [
    ("perfect", wrap(GOLD), 1.0 + 0.2 * 1.0 + 0.1 * 1.0),
    ("reversed", wrap("[5] > [4] > [3] > [2] > [1]"), REVERSED_NDCG + 0.2 + 0.1 * REVERSED_RBO),
    ("partial", wrap("[1] > [3] > [2] > [4] > [5]"), PARTIAL_NDCG + 0.2 + 0.1 * PARTIAL_RBO),
    ("bare ids, comma separated", wrap("1, 2, 3, 4, 5"), 1.3),
    ("no think block", "<answer>[1] > [2] > [3] > [4] > [5]</answer>", -1.0),
    ("no answer block", "<think>hmm</think> [1] > [2] > [3] > [4] > [5]", -1.0),
    ("unclosed answer", "<think>x</think><answer>[1] > [2]", -1.0),
    ("too few ids", wrap("[1] > [2] > [3]"), 0.0),
    ("too many ids", wrap("[1] > [2] > [3] > [4] > [5] > [6]"), 0.0),
    ("duplicated id", wrap("[1] > [1] > [3] > [4] > [5]"), 0.0),
]


@pytest.mark.parametrize("name,completion,expected", CASES, ids=[c[0] for c in CASES])
def test_listwise_reward_table(name: str, completion: str, expected: float) -> None:
    got = listwise_reward(completion, candidate_ids=IDS, gold_answer=GOLD, relevant_ids=REL)
    assert got == pytest.approx(expected, abs=1e-6)


def test_out_of_range_label_is_dropped_from_the_metric_but_counted_for_rbo() -> None:
    # "[9]" does not exist: the official code drops it from the doc list (nDCG over 4 docs).
    got = listwise_reward(wrap("[1] > [2] > [3] > [4] > [9]"), candidate_ids=IDS, gold_answer=GOLD, relevant_ids=REL)
    rbo = rbo_similarity(["1", "2", "3", "4", "9"], ["1", "2", "3", "4", "5"])
    assert got == pytest.approx(1.0 + 0.2 + 0.1 * rbo)
    assert rbo == pytest.approx((1 + 1 + 1 + 1 + 4 / 5) / 5)


def test_no_relevant_docs_scores_only_rbo() -> None:
    got = listwise_reward(wrap(GOLD), candidate_ids=IDS, gold_answer=GOLD, relevant_ids=[])
    assert got == pytest.approx(0.1)


def test_format_reward() -> None:
    assert format_reward(wrap(GOLD), num_candidates=5) == 1.0
    assert format_reward(wrap("[1] > [2] > [3] > [4]"), num_candidates=5) == 0.0
    assert format_reward(wrap("[1] > [1] > [3] > [4] > [5]"), num_candidates=5) == 0.0
    assert format_reward("[1] > [2] > [3] > [4] > [5]", num_candidates=5) == 0.0


@pytest.mark.parametrize(
    "completion,label,expected",
    [
        ("The passage defines the term.</think> true", True, 1.0),
        ("<think>off topic</think>\nfalse", "false", 1.0),
        ("It does not answer.</think> false", 1, 0.0),
        ("true", True, -1.0),
        ("<think>never closed", False, -1.0),
    ],
)
def test_pointwise_reward(completion: str, label: object, expected: float) -> None:
    assert pointwise_reward(completion, label=label) == expected


def test_trl_adapters_accept_conversational_completions() -> None:
    conv = [[{"role": "assistant", "content": wrap(GOLD)}], [{"role": "assistant", "content": "nope"}]]
    got = listwise_rewards(conv, candidate_ids=[IDS, IDS], gold_answer=[GOLD, GOLD], relevant_ids=[REL, REL])
    assert got == pytest.approx([1.3, -1.0])
    assert format_rewards(conv, candidate_ids=[IDS, IDS]) == [1.0, 0.0]


@pytest.mark.parametrize(
    "pred,gold,p,expected",
    [
        (["1", "2", "3"], ["3", "2", "1"], 1.0, 0.5),  # agreements 0, 1/2, 1
        (["a", "b", "c", "d"], ["a", "b", "c", "d"], 1.0, 1.0),
        (["a", "b"], ["c", "d"], 1.0, 0.0),
        # p = 0.9, truncated: 0.1 * (1*1 + 0.9*(1/2) + 0.81*(3/3)) with agreements 1, 1/2... (a,c,b) vs (a,b,c)
        (["a", "c", "b"], ["a", "b", "c"], 0.9, 0.1 * (1 + 0.9 * 0.5 + 0.81 * 1.0)),
    ],
)
def test_rbo_similarity_hand_values(pred, gold, p, expected) -> None:
    assert rbo_similarity(pred, gold, p=p) == pytest.approx(expected)
