"""The toy model's chat template source and the training-curve benchmark's GPU options (fast)."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest
from reasonrank.training.toy_model import qwen_chat_template

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("training_curve", ROOT / "benchmarks" / "training_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chat_template_is_read_from_a_saved_jinja_file(tmp_path: Path) -> None:
    # A folder holding only the saved template (what the GPU run carries): no tokenizer load.
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}<|im_start|>", encoding="utf-8")
    assert qwen_chat_template(tmp_path) == "{{ messages }}<|im_start|>"


def test_gpu_size_merges_into_the_chain_settings() -> None:
    bench = _benchmark()
    args = argparse.Namespace(device="cuda", size="gpu", chat_template_from=None, train_queries=None,
                              heldout_queries=None, sft_epochs=None, grpo_steps=7, grpo_lr=None)
    settings = bench.build_settings(args, seed=3)
    assert settings.seed == 3 and settings.device == "cuda" and settings.threads is None
    assert settings.model["num_hidden_layers"] == 4 and settings.train_queries == 1200
    # Sizes merge into the chain's dicts: the CPU defaults they do not name stay.
    assert settings.grpo["max_steps"] == 7 and settings.grpo["num_generations"] == 8
    assert settings.sft["lr_scheduler_type"] == "cosine"


def test_cuda_without_a_gpu_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _benchmark().main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
