"""Reward functions for GRPO: ReasonRank's multi-view ranking reward, a format reward, and a
pointwise (Rank1-style) reward.

``listwise_reward`` follows the official ReasonRank reward exactly:
github 8421BCD/ReasonRank, ``verl/verl/utils/reward_score/ranking.py`` (``compute_score``):

* the completion must match ``<think>.*?</think>\\s*<answer>(.*?)</answer>`` (``pattern`` in
  ``listwise_prompt_r1.toml``, searched with DOTALL); otherwise the reward is **-1**;
* the answer's ids are every run of digits in it (``clean_response``); if their number, or the
  number of distinct ids, differs from the gold label's, the reward is **0**;
* otherwise ``nDCG@10 + 0.2 * Recall@10 + 0.1 * RBO``: nDCG@10 and Recall@10 by pytrec_eval with
  binary relevance of ``relevant_ids``, RBO as the ``rbo`` package (``RankingSimilarity(pred,
  gold).rbo()``, p = 1.0, its default) between the predicted and the gold id lists (computed
  by :func:`rbo_similarity`, which reproduces that package's definition).

The tags are a :class:`~reasonrank.prompts.reasoning.ReasoningFormat` (``fmt``; the official
ones by default), the same the rerankers parse with.

The ``*_rewards`` functions have TRL's reward-function signature
(``completions, **dataset_columns -> list[float]``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from reasonrank.metrics import rbo_similarity
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat

# Weights of the official multi-view reward (ranking.py: ndcg10 + 0.2 * recall10 + 0.1 * rbo).
NDCG_WEIGHT, RECALL_WEIGHT, RBO_WEIGHT = 1.0, 0.2, 0.1
FORMAT_MISS_REWARD = -1.0
WRONG_COUNT_REWARD = 0.0


def answer_match(completion: str, fmt: ReasoningFormat = DEFAULT_FORMAT) -> re.Match[str] | None:
    """The official answer pattern (listwise_prompt_r1.toml ``pattern``: the format's), searched
    with DOTALL as ``compute_score`` does; group 1 is the answer."""
    return re.search(fmt.answer_pattern, completion, re.DOTALL)


def _digit_ids(text: str) -> list[str]:
    """Every run of digits, as the official ``clean_response`` + ``split`` yields them."""
    return re.findall(r"\d+", text)


def ranking_metrics(pred_docids: Sequence[str], relevant_ids: Sequence[str]) -> tuple[float, float]:
    """nDCG@10 and Recall@10 of a ranked doc list against binary relevance, via pytrec_eval."""
    import pytrec_eval

    relevant = {str(d): 1 for d in relevant_ids}
    if not relevant:
        return 0.0, 0.0
    run: dict[str, dict[str, float]] = {"q": {}}
    for idx, docid in enumerate(pred_docids):
        run["q"].setdefault(str(docid), float(-(idx + 1)))  # first occurrence wins, as dict order
    if not run["q"]:
        return 0.0, 0.0
    evaluator = pytrec_eval.RelevanceEvaluator({"q": relevant}, {"ndcg_cut.10", "recall.10"})
    res = evaluator.evaluate(run)["q"]
    return float(res["ndcg_cut_10"]), float(res["recall_10"])


def listwise_reward(
    completion: str,
    *,
    candidate_ids: Sequence[str],
    gold_answer: str,
    relevant_ids: Sequence[str],
    fmt: ReasoningFormat = DEFAULT_FORMAT,
) -> float:
    """The official ReasonRank multi-view ranking reward for one completion.

    ``candidate_ids`` are the doc ids of the window in prompt order (label ``[k]`` is
    ``candidate_ids[k-1]``); ``gold_answer`` is the teacher's ranking (``"[2] > [1] > ..."``);
    ``relevant_ids`` the relevant doc ids. Returns -1 (format miss), 0 (wrong id count) or
    ``nDCG@10 + 0.2 Recall@10 + 0.1 RBO``.
    """
    match = answer_match(completion, fmt)
    if not match:
        return FORMAT_MISS_REWARD
    pred = _digit_ids(match.group(1))
    gold = _digit_ids(gold_answer)
    if len(pred) != len(gold) or len(set(pred)) != len(set(gold)):
        return WRONG_COUNT_REWARD
    pred_idxs = [int(x) - 1 for x in pred]
    # Exactly the official `[initial_list[idx] for idx in pred_idxs if idx < len(initial_list)]`:
    # out-of-range labels are dropped; note that a label "0" gives idx -1, which Python (and so
    # the official reward) reads as the last passage. Kept as is, for fidelity with training.
    pred_docids = [str(candidate_ids[i]) for i in pred_idxs if i < len(candidate_ids)]
    ndcg10, recall10 = ranking_metrics(pred_docids, relevant_ids)
    return NDCG_WEIGHT * ndcg10 + RECALL_WEIGHT * recall10 + RBO_WEIGHT * rbo_similarity(pred, gold)


def is_valid_listwise_format(completion: str, num_candidates: int, fmt: ReasoningFormat = DEFAULT_FORMAT) -> bool:
    """True when the completion has the ``<think>…</think><answer>…</answer>`` structure (in
    ``fmt``) and the answer ranks each of the ``num_candidates`` labels ``[1]..[n]`` exactly once."""
    match = answer_match(completion, fmt)
    if not match:
        return False
    ids = _digit_ids(match.group(1))
    return sorted(int(x) for x in ids) == list(range(1, num_candidates + 1))


def format_reward(completion: str, *, num_candidates: int, fmt: ReasoningFormat = DEFAULT_FORMAT) -> float:
    """1.0 for a well-formed completion with a complete permutation, else 0.0.

    Not part of the official reward (which folds format into -1/0 above); used as an optional
    shaping term with its own weight in the GRPO config.
    """
    return 1.0 if is_valid_listwise_format(completion, num_candidates, fmt) else 0.0


def pointwise_reward(completion: str, *, label: bool | str | int, fmt: ReasoningFormat = DEFAULT_FORMAT) -> float:
    """Rank1-style reward: 1 for the right true/false answer after a closed thought, 0 for the
    wrong one, -1 when there is no ``…</think> true|false`` structure (the opening ``<think>`` is
    part of Rank1's prompt, so it is optional in the completion)."""
    match = re.search(fmt.after_thought(r"(true|false)\b"), completion, re.DOTALL | re.IGNORECASE)
    if not match:
        return FORMAT_MISS_REWARD
    gold = str(label).strip().lower() in {"true", "1", "yes"}
    return 1.0 if (match.group(1).lower() == "true") == gold else 0.0


# --- TRL reward-function adapters -----------------------------------------------------------

def completion_text(completion: Any) -> str:
    """Text of a TRL completion: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def listwise_rewards(completions: list[Any], candidate_ids: list[Sequence[str]], gold_answer: list[str],
                     relevant_ids: list[Sequence[str]], **_: Any) -> list[float]:
    """TRL reward function: :func:`listwise_reward` for each completion of a batch."""
    return [
        listwise_reward(completion_text(c), candidate_ids=cids, gold_answer=g, relevant_ids=rel)
        for c, cids, g, rel in zip(completions, candidate_ids, gold_answer, relevant_ids, strict=True)
    ]


def format_rewards(completions: list[Any], candidate_ids: list[Sequence[str]], **_: Any) -> list[float]:
    """TRL reward function: :func:`format_reward` for each completion of a batch."""
    return [
        format_reward(completion_text(c), num_candidates=len(cids))
        for c, cids in zip(completions, candidate_ids, strict=True)
    ]


def pointwise_rewards(completions: list[Any], label: list[Any], **_: Any) -> list[float]:
    """TRL reward function: :func:`pointwise_reward` for each completion of a batch."""
    return [pointwise_reward(completion_text(c), label=l) for c, l in zip(completions, label, strict=True)]
