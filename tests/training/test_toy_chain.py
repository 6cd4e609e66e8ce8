"""Training learns, end to end on CPU: the toy chain synthesize -> SFT -> GRPO (seeded).

Asserts the direction of each effect: the random model never writes the format, SFT makes it
write it (and rank above the random-order baseline), GRPO gets a learning signal (non-zero
reward spread inside the groups, rewards above 0), unlike the recorded all -1 runs. Whether the
mean reward rises over the steps is measured by benchmarks/training_curve.py (30 steps; 16 steps
of 2 prompts are too noisy to assert a trend).
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trl")

from reasonrank.training.toy_chain import ToyChainSettings, run_toy_chain


@pytest.mark.slow
def test_sft_teaches_the_format_and_grpo_gets_a_learning_signal(tmp_path: Path) -> None:
    settings = ToyChainSettings(seed=0, train_queries=240, heldout_queries=30)
    settings.sft.update(num_train_epochs=10.0)
    settings.grpo.update(max_steps=16)
    settings.rl_examples = 64
    report = run_toy_chain(tmp_path, settings)
    held = report["heldout"]

    assert report["synthesis"]["kept"] < 240  # the filter dropped the teacher's mistakes
    # SFT teaches the format (a random model never writes it) and ranking above chance.
    # Seeded values on the dev machine: format 0.00 -> 0.13 on 30 held-out windows.
    assert held["base"]["format_rate"] <= 0.05
    assert held["sft"]["format_rate"] >= 0.1, held["sft"]["samples"]
    assert held["sft"]["ndcg10"] > report["random_order_ndcg10"], (held, report["random_order_ndcg10"])

    curve = report["grpo"]["curve"]
    assert len(curve) == 16
    # A learning signal flows: rollouts differ inside their groups (std > 0, so advantages are
    # not all zero) and some score above 0, unlike the recorded all -1 runs.
    assert sum(c["reward_std"] > 0 for c in curve) >= 12, curve
    assert max(c["reward"] for c in curve) > 0.3, curve
