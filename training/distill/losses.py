"""Distillation losses from the literature, and the choice among them by what the teacher gives.

Each loss takes one query's student scores ``s`` and teacher targets ``t`` over the same group
of candidates (1-D tensors) and returns a scalar.

* ``ranknet`` (the default for an order or judgments): RankNet (Burges et al. 2005) on every pair
  the teacher orders, as RankGPT's permutation distillation does (Sun et al., EMNLP 2023;
  github sunnweiwei/RankGPT ``rank_loss.py`` ``rank_net`` with the targets ``1/(rank+1)`` of
  ``specialization.py``): ``BCEWithLogits(s_i - s_j, 1)`` for each pair with ``t_i > t_j``.
  *Rank-discounted*: each pair weighs ``t_i - t_j`` (``rank_loss.py``'s ``weight_by_diff``), so
  with targets ``1/(rank+1)`` a swap at the top costs more than one at rank 80, and with
  judgments a 3-vs-0 pair more than a 1-vs-0 one. We normalise by the sum of the weights (a
  weighted mean; RankGPT divides by the pair count), so the step size does not depend on the
  group's depth.
* ``kl`` (the default when the teacher gives scores): listwise KL divergence from the teacher's
  distribution ``softmax(z(t))`` to the student's ``softmax(s)``, ``z`` the teacher's scores
  standardised over the group (teachers' scales differ: probabilities, logits, BM25).
* ``margin-mse`` (the default for a cross-encoder teacher and a dense student): Margin-MSE
  (Hofstätter et al. 2020, "Improving Efficient Neural Ranking Models with Cross-Architecture
  Knowledge Distillation"): ``((s_i - s_j) - (t_i - t_j))^2`` over the group's pairs, on the
  teacher's raw scores.
* in-batch negatives (dense students; Karpukhin et al. 2020, sentence-transformers'
  ``MultipleNegativesRankingLoss``): cross-entropy of each query's teacher-best candidate
  against the other queries' candidates in the batch, added with a small weight.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reasonrank.errors import InvalidInputError

LOSSES = ("auto", "ranknet", "kl", "margin-mse")


def choose_loss(loss: str, gives: str, teacher_method: str | None, kind: str) -> str:
    """The loss to train with: ``loss`` unless ``"auto"``; then margin-MSE for a cross-encoder
    teacher and a dense student, listwise KL for other scores, RankNet for an order or grades."""
    if loss not in LOSSES:
        raise InvalidInputError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss != "auto":
        if loss in ("kl", "margin-mse") and gives == "order":
            raise InvalidInputError(f"loss {loss!r} needs teacher scores; this teacher gives only an order (use ranknet)")
        return loss
    if gives == "scores":
        return "margin-mse" if teacher_method == "cross" and kind == "dense" else "kl"
    return "ranknet"


def ranknet(s: Any, t: Any, rank_discount: bool = True) -> Any:
    """Rank-discounted RankNet over the pairs the teacher orders (see the module doc)."""
    import torch

    diff_t = t[:, None] - t[None, :]
    mask = diff_t > 0
    if not bool(mask.any()):
        return s.sum() * 0.0  # the teacher ties every candidate: nothing to learn here
    diff_s = (s[:, None] - s[None, :])[mask]
    weight = diff_t[mask] if rank_discount else torch.ones_like(diff_s)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(diff_s, torch.ones_like(diff_s), reduction="none")
    return (weight * losses).sum() / weight.sum()


def listwise_kl(s: Any, t: Any) -> Any:
    """KL(teacher || student) over the group, the teacher's scores standardised first."""
    import torch

    std = t.std(unbiased=False)
    z = (t - t.mean()) / std if float(std) > 0 else torch.zeros_like(t)
    target = torch.softmax(z, dim=0)
    return torch.nn.functional.kl_div(torch.log_softmax(s, dim=0), target, reduction="sum")


def margin_mse(s: Any, t: Any) -> Any:
    """Margin-MSE over every pair of the group (Hofstätter et al. 2020)."""
    i, j = _pairs(len(s), s.device)
    return (((s[i] - s[j]) - (t[i] - t[j])) ** 2).mean()


def _pairs(n: int, device: Any) -> tuple[Any, Any]:
    import torch

    i, j = torch.triu_indices(n, n, offset=1, device=device)
    return i, j


def in_batch_negatives(scores: Any, best: Sequence[int], spans: Sequence[tuple[int, int]]) -> Any:
    """Cross-entropy of each query's best candidate against the other queries' candidates.

    ``scores`` is the (queries x all candidates) score matrix of a batch, query ``b``'s own
    candidates at columns ``spans[b]`` (start, end); ``best[b]`` the column of its teacher-best.
    Its own other candidates are masked out: they are the teacher's to order."""
    import torch

    own = torch.zeros_like(scores, dtype=torch.bool)
    for b, (start, end) in enumerate(spans):
        own[b, start:end] = True
        own[b, best[b]] = False
    masked = scores.masked_fill(own, float("-inf"))
    return torch.nn.functional.cross_entropy(masked, torch.tensor(list(best), device=scores.device))


def query_loss(name: str, s: Any, t: Any, rank_discount: bool = True) -> Any:
    """One query's loss by name."""
    if name == "ranknet":
        return ranknet(s, t, rank_discount)
    if name == "kl":
        return listwise_kl(s, t)
    if name == "margin-mse":
        return margin_mse(s, t)
    raise InvalidInputError(f"unknown loss {name!r}")


__all__ = ["LOSSES", "choose_loss", "in_batch_negatives", "listwise_kl", "margin_mse", "query_loss", "ranknet"]
