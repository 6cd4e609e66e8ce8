"""The training-curve benchmark's GPU options (fast): ``benchmarks/training/training_curve.py``,
imported by name (``conftest.py`` puts its folder on the path)."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import training_curve


def test_gpu_size_merges_into_the_chain_settings() -> None:
    args = argparse.Namespace(device="cuda", size="gpu", chat_template_from=None, train_queries=None,
                              heldout_queries=None, sft_epochs=None, grpo_steps=7, grpo_lr=None)
    settings = training_curve.build_settings(args, seed=3)
    assert settings.seed == 3 and settings.device == "cuda" and settings.threads is None
    assert settings.model["num_hidden_layers"] == 4 and settings.train_queries == 1200
    # Sizes merge into the chain's dicts: the CPU defaults they do not name stay.
    assert settings.grpo["max_steps"] == 7 and settings.grpo["num_generations"] == 8
    assert settings.sft["lr_scheduler_type"] == "cosine"


def test_cuda_without_a_gpu_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_curve.main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
