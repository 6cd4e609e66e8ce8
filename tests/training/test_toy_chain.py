"""Training learns, end to end on CPU: the toy chain synthesize -> SFT -> GRPO (seeded).

Asserts the direction of each effect: the random model never writes the format, SFT makes it
write it (and rank above the random-order baseline), GRPO's mean reward rises over its steps
with a non-zero spread inside the groups (a learning signal flows, unlike the all -1 runs).
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trl")

from reasonrank.training.toy_chain import ToyChainSettings, run_toy_chain


@pytest.mark.slow
def test_sft_teaches_the_format_and_grpo_raises_the_reward(tmp_path: Path) -> None:
    settings = ToyChainSettings(seed=0, train_queries=240, heldout_queries=30)
    settings.sft.update(num_train_epochs=10.0)
    settings.grpo.update(max_steps=16)
    settings.rl_examples = 64
    report = run_toy_chain(tmp_path, settings)
    held = report["heldout"]

    assert report["synthesis"]["kept"] < 240  # the filter dropped the teacher's mistakes
    assert held["base"]["format_rate"] <= 0.05
    assert held["sft"]["format_rate"] >= 0.7, held["sft"]["samples"]
    assert held["sft"]["ndcg10"] > report["random_order_ndcg10"] + 0.05

    curve = report["grpo"]["curve"]
    assert len(curve) == 16
    rewards = [c["reward"] for c in curve]
    # Rollouts differ inside their groups (std > 0), so the advantages are not all zero.
    assert sum(c["reward_std"] > 0 for c in curve) >= 12, curve
    third = len(rewards) // 3
    assert sum(rewards[-third:]) / third > sum(rewards[:third]) / third, rewards
