"""The distillation losses: each prefers the student that agrees with its teacher."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from reasonrank.training.distill.losses import (
    choose_loss,
    in_batch_negatives,
    listwise_kl,
    margin_mse,
    ranknet,
)

TEACHER = torch.tensor([1.0, 1 / 2, 1 / 3, 1 / 4])  # RankGPT's targets: the order 0 > 1 > 2 > 3


def test_ranknet_is_lower_for_the_teachers_order_and_discounts_by_rank() -> None:
    agree, reverse = torch.tensor([4.0, 3.0, 2.0, 1.0]), torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert ranknet(agree, TEACHER) < ranknet(reverse, TEACHER)
    top_swapped, bottom_swapped = torch.tensor([3.0, 4.0, 2.0, 1.0]), torch.tensor([4.0, 3.0, 1.0, 2.0])
    assert ranknet(top_swapped, TEACHER) > ranknet(bottom_swapped, TEACHER)  # the rank discount
    assert ranknet(top_swapped, TEACHER, False) == pytest.approx(ranknet(bottom_swapped, TEACHER, False).item())
    tied = ranknet(agree, torch.ones(4))
    assert tied.item() == 0.0 and tied.requires_grad is False


def test_listwise_kl_is_zero_when_the_distributions_match() -> None:
    teacher = torch.tensor([2.0, 1.0, 0.0, -1.0])
    z = (teacher - teacher.mean()) / teacher.std(unbiased=False)
    assert listwise_kl(z, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert listwise_kl(-z, teacher) > 0.1


def test_margin_mse_is_zero_when_the_margins_match() -> None:
    teacher = torch.tensor([5.0, 2.0, -1.0])
    assert margin_mse(teacher + 3.0, teacher).item() == pytest.approx(0.0)
    assert margin_mse(teacher * 2, teacher).item() > 1.0


def test_in_batch_negatives_ignore_the_querys_own_other_candidates() -> None:
    # query 0 owns columns 0-1 (best 0), query 1 owns 2-3 (best 3)
    scores = torch.tensor([[5.0, 9.0, -5.0, -5.0], [-5.0, -5.0, 9.0, 5.0]])
    assert in_batch_negatives(scores, [0, 3], [(0, 2), (2, 4)]).item() < 1e-3


def test_the_default_loss_follows_what_the_teacher_gives() -> None:
    assert choose_loss("auto", "order", "listwise", "dense") == "ranknet"
    assert choose_loss("auto", "grades", "qrels", "cross") == "ranknet"
    assert choose_loss("auto", "scores", "pointwise", "dense") == "kl"
    assert choose_loss("auto", "scores", "cross", "dense") == "margin-mse"
    assert choose_loss("auto", "scores", "cross", "cross") == "kl"
    assert choose_loss("ranknet", "scores", "cross", "dense") == "ranknet"
