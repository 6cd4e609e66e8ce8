"""Training settings with the official ReasonRank hyperparameters as defaults.

Sources (github 8421BCD/ReasonRank):
* SFT, 7B full fine-tune: ``LLaMA-Factory/examples/train_full/qwen_full_sft.yaml`` — lr 5e-6,
  5 epochs, per-device batch 1 x gradient accumulation 8, cosine schedule, warmup ratio 0.1,
  bf16, cutoff length 23552.
* SFT, 32B LoRA: ``LLaMA-Factory/examples/train_lora/qwen_lora_sft.yaml`` — LoRA r=32, alpha=32,
  lr 1e-4, 7 epochs.
* GRPO: ``verl/train_grpo.sh`` — lr 1e-6, train batch 16 prompts, 8 rollouts per prompt, max
  prompt 20480 / response 3072 tokens, KL loss coefficient 0.001 (low-variance KL), no entropy
  bonus, 1 epoch, mini-batch 8, vLLM rollouts.

Configs are YAML or TOML files whose keys are the field names below; unknown keys are an error.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass
class LoraSettings:
    """LoRA adapter settings (the official 32B recipe: r=32, alpha=32)."""

    r: int = 32
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


@dataclass
class SFTSettings:
    """Cold-start supervised fine-tuning on synthesized reasoning examples."""

    model: str = "Qwen/Qwen2.5-7B-Instruct"
    train_file: str = "data/listwise_sft.jsonl"
    output_dir: str = "runs/sft"
    learning_rate: float = 5e-6
    num_train_epochs: float = 5.0
    max_steps: int = -1
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 8
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    bf16: bool = True
    max_length: int = 23552
    gradient_checkpointing: bool = True
    logging_steps: int = 1
    save_strategy: str = "epoch"
    seed: int = 42
    lora: LoraSettings | None = None
    report_to: str = "none"


@dataclass
class GRPOSettings:
    """GRPO with the multi-view ranking reward (and optional format shaping)."""

    model: str = "runs/sft"
    train_file: str = "data/listwise_rl.jsonl"
    output_dir: str = "runs/grpo"
    learning_rate: float = 1e-6
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 2  # 16 prompts per step on one device, as train_batch_size=16
    num_generations: int = 8
    max_prompt_length: int = 20480
    max_completion_length: int = 3072
    beta: float = 0.001
    temperature: float = 1.0
    bf16: bool = True
    gradient_checkpointing: bool = True
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.5
    ranking_reward_weight: float = 1.0
    # The official reward already scores a format miss as -1; a positive weight adds TRL-side
    # shaping for complete permutations (not in the official recipe, hence 0 by default).
    format_reward_weight: float = 0.0
    logging_steps: int = 1
    save_steps: int = 25
    seed: int = 42
    lora: LoraSettings | None = None
    report_to: str = "none"
    task: str = "listwise"  # listwise | pointwise


def _build(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    data = dict(data)
    if data.get("lora") is not None and not isinstance(data["lora"], LoraSettings):
        lora = data["lora"]
        data["lora"] = LoraSettings() if lora is True else _build(LoraSettings, dict(lora))
    elif data.get("lora") is False:
        data["lora"] = None
    return cls(**data)


def load_settings(cls: type[T], path: str | Path | None = None, **overrides: Any) -> T:
    """Settings of type ``cls`` from a YAML/TOML file (optional), then ``overrides`` on top
    (``None`` values are ignored, so CLI flags that were not given do not override)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else (yaml.safe_load(text) or {})
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a mapping of settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _build(cls, data)


def as_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)


__all__ = ["GRPOSettings", "LoraSettings", "SFTSettings", "as_dict", "field", "load_settings"]
