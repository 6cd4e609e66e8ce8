"""GRPO with TRL's GRPOTrainer and the multi-view ranking reward.

Rollouts go through vLLM (TRL's ``use_vllm``, colocated) when ``use_vllm`` is set and vLLM is
installed, and through plain ``generate`` otherwise. Prompts longer than ``max_prompt_length``
tokens are dropped, as the official run does (``data.filter_overlong_prompts=True``).
"""
from __future__ import annotations

import importlib.util
import logging
from typing import Any

from reasonrank.training.config import GRPOSettings, as_dict
from reasonrank.training.examples import grpo_records, read_examples
from reasonrank.training.modeling import (
    common_trainer_kwargs,
    load_tokenizer,
    lora_config,
    write_preset,
)
from reasonrank.training.rewards import format_rewards, listwise_rewards, pointwise_rewards

log = logging.getLogger(__name__)


def reward_functions(settings: GRPOSettings) -> tuple[list[Any], list[float]]:
    """The reward functions and their weights for the task."""
    if settings.task == "pointwise":
        return [pointwise_rewards], [1.0]
    if settings.task != "listwise":
        raise ValueError(f"unknown GRPO task {settings.task!r} (listwise or pointwise)")
    funcs: list[Any] = [listwise_rewards]
    weights = [settings.ranking_reward_weight]
    if settings.format_reward_weight:
        funcs.append(format_rewards)
        weights.append(settings.format_reward_weight)
    return funcs, weights


def _drop_overlong(records: list[dict[str, Any]], tokenizer: Any, limit: int) -> list[dict[str, Any]]:
    kept = []
    for rec in records:
        ids = tokenizer.apply_chat_template(rec["prompt"], tokenize=True, add_generation_prompt=True)
        if hasattr(ids, "keys"):  # transformers 5 may return a BatchEncoding
            ids = ids["input_ids"]
        if len(ids) <= limit:
            kept.append(rec)
    if len(kept) < len(records):
        log.warning("dropped %d prompts longer than %d tokens", len(records) - len(kept), limit)
    if not kept:
        raise ValueError(f"every prompt is longer than max_prompt_length={limit}")
    return kept


def completion_budget_misses(rows: list[dict[str, Any]], tokenizer: Any, max_completion_length: int) -> int:
    """How many of the examples' own assistant turns (the SFT targets) would not fit in
    ``max_completion_length`` tokens (plus the end-of-turn token).

    Why: a rollout cut before ``</answer>`` scores -1 whatever it ranks. When the budget is
    below what the policy learned to write, every rollout is cut, every reward is -1, the reward
    std is 0 and GRPO has no signal (the recorded smoke runs: 16-32 tokens, clipped ratio 1).
    """
    misses = 0
    for row in rows:
        text = row["messages"][-1]["content"]
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1 > max_completion_length:
            misses += 1
    return misses


def warn_if_no_signal(curve: list[dict[str, Any]]) -> None:
    """Say so when no step had any reward spread (no advantage, no gradient: nothing learned)."""
    if curve and all(not c.get("reward_std") for c in curve):
        log.warning(
            "GRPO had no learning signal: the reward std was 0 at every step (mean rewards %s). "
            "Start from an SFT checkpoint that writes the format and give the rollouts enough "
            "max_completion_length for a whole answer.", sorted({c["reward"] for c in curve})
        )


# What a GRPO curve keeps of each logged step (TRL's log names).
CURVE_KEYS = (
    "reward", "reward_std", "frac_reward_zero_std", "rewards/listwise_rewards/mean",
    "rewards/format_rewards/mean", "completions/mean_length", "completions/clipped_ratio", "kl",
)


def grpo_curve(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per logged step: ``step`` and the :data:`CURVE_KEYS` TRL logged (rewards, their spread,
    completion lengths), in step order."""
    return [
        {"step": h.get("step")} | {k: float(h[k]) for k in CURVE_KEYS if k in h}
        for h in log_history if "reward" in h
    ]


def reward_trend(curve: list[dict[str, Any]], key: str = "reward") -> dict[str, float]:
    """How a logged GRPO curve moved, robust to the step-to-step noise of a few prompts a step:
    the mean of ``key`` over the first and the last quarter of the steps and the least-squares
    slope per step over all of them."""
    values = [float(c[key]) for c in curve if key in c]
    if len(values) < 2:
        raise ValueError(f"need at least 2 logged steps with {key!r} to measure a trend")
    q = max(1, len(values) // 4)
    n = len(values)
    x_mean, y_mean = (n - 1) / 2, sum(values) / n
    slope = sum((i - x_mean) * (v - y_mean) for i, v in enumerate(values)) / sum(
        (i - x_mean) ** 2 for i in range(n))
    return {"first_quarter": sum(values[:q]) / q, "last_quarter": sum(values[-q:]) / q,
            "slope_per_step": slope, "steps": n}


def run_grpo(settings: GRPOSettings, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train with GRPO; save the model, tokenizer and a reranker preset to ``output_dir``.

    Returns the logged mean reward and its spread per step (``rewards``, ``reward_std``, and
    ``curve`` with more of TRL's per-step log), the steps and the paths.
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rows = read_examples(settings.train_file)
    tokenizer = load_tokenizer(settings.model)
    records = _drop_overlong(grpo_records(rows), tokenizer, settings.max_prompt_length)
    misses = completion_budget_misses(rows, tokenizer, settings.max_completion_length)
    if misses:
        log.warning(
            "%d of %d training answers are longer than max_completion_length=%d tokens: rollouts "
            "cut there score -1 (format miss)", misses, len(rows), settings.max_completion_length,
        )
    funcs, weights = reward_functions(settings)
    use_vllm = settings.use_vllm and importlib.util.find_spec("vllm") is not None
    if settings.use_vllm and not use_vllm:
        log.warning("use_vllm is set but vllm is not installed: rollouts use plain generate")
    args = GRPOConfig(
        **common_trainer_kwargs(settings),
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        beta=settings.beta,
        temperature=settings.temperature,
        use_vllm=use_vllm,
        vllm_mode=settings.vllm_mode,
        vllm_gpu_memory_utilization=settings.vllm_gpu_memory_utilization,
        reward_weights=weights,
        save_steps=settings.save_steps,
    )
    trainer = GRPOTrainer(
        model=settings.model,
        reward_funcs=funcs,
        args=args,
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=lora_config(settings.lora),
        callbacks=callbacks,
    )
    trainer.train()
    trainer.save_model(settings.output_dir)
    tokenizer.save_pretrained(settings.output_dir)
    preset = write_preset(settings.output_dir, method=settings.task, description="GRPO checkpoint")
    curve = grpo_curve(trainer.state.log_history)
    warn_if_no_signal(curve)
    return {
        "rewards": [c["reward"] for c in curve],
        "reward_std": [c.get("reward_std") for c in curve],
        "curve": curve,
        "steps": trainer.state.global_step,
        "output_dir": settings.output_dir,
        "preset": str(preset),
        "used_vllm": use_vllm,
        "answers_over_completion_budget": misses,
        "settings": as_dict(settings),
    }
