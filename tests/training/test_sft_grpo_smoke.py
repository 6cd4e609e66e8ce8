"""CPU smoke runs of SFT and GRPO on the tiny local model (a few steps each)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trl")

from reasonrank.training.config import GRPOSettings, SFTSettings, load_settings
from reasonrank.training.grpo import run_grpo
from reasonrank.training.sft import run_sft


def test_sft_loss_goes_down(tiny_model_path: Path, listwise_file: Path, tmp_path: Path) -> None:
    settings = load_settings(
        SFTSettings, None, model=str(tiny_model_path), train_file=str(listwise_file),
        output_dir=str(tmp_path / "sft"), learning_rate=3e-3, max_steps=12, num_train_epochs=1,
        per_device_train_batch_size=2, gradient_accumulation_steps=1, warmup_ratio=0.0,
        lr_scheduler_type="constant", max_length=512, gradient_checkpointing=False,
        save_strategy="no", bf16=False,
    )
    out = run_sft(settings)
    losses = out["losses"]
    assert len(losses) == 12
    # A random init starts near ln(vocab) ~ 11.9 nats; a dozen steps on 4 fixed examples must
    # lower the mean loss by more than a nat.
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0, losses
    assert (tmp_path / "sft" / "config.json").is_file()
    assert Path(out["preset"]).is_file()


def test_grpo_runs_logs_rewards_and_checkpoint_loads_in_reranker(
    tiny_model_path: Path, listwise_file: Path, tmp_path: Path
) -> None:
    settings = load_settings(
        GRPOSettings, None, model=str(tiny_model_path), train_file=str(listwise_file),
        output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=4,
        gradient_accumulation_steps=1, num_generations=4, max_completion_length=16,
        gradient_checkpointing=False, bf16=False, save_steps=1000, format_reward_weight=0.1,
    )
    out = run_grpo(settings)
    assert out["steps"] == 2
    assert len(out["rewards"]) == 2
    # A random tiny model writes no <think>/<answer>: the official reward gives -1 per rollout.
    assert all(-1.0 <= r <= 1.4 for r in out["rewards"])
    from reasonrank import load_reranker

    reranker = load_reranker(preset=out["preset"], reasoning_budget=8, on_error="keep_order")
    result = reranker.rerank("topic 0", [{"id": f"d{i}", "text": f"passage {i}"} for i in range(5)])
    assert sorted(result.ids) == [f"d{i}" for i in range(5)]
    assert result.model and "grpo" in result.model


def test_config_files_and_unknown_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rate: 1.0e-5\nlora: {r: 8}\n")
    s = load_settings(SFTSettings, cfg, output_dir="x")
    assert s.learning_rate == 1e-5 and s.lora is not None and s.lora.r == 8 and s.lora.alpha == 32
    assert SFTSettings().learning_rate == 5e-6 and SFTSettings().num_train_epochs == 5
    assert GRPOSettings().beta == 0.001 and GRPOSettings().num_generations == 8
    bad = tmp_path / "bad.toml"
    bad.write_text("learning_rat = 1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        load_settings(SFTSettings, bad)
