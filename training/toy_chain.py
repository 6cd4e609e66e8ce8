"""The whole training chain on the toy task: synthesize -> SFT -> GRPO, each step measured.

``run_toy_chain`` is what ``benchmarks/training/training_curve.py`` and the seeded CPU test run (with
different sizes). Every step goes through the public API the CLI calls:

1. :func:`~reasonrank.training.toy_task.write_toy_task` writes train/held-out dataset folders;
2. :func:`~reasonrank.training.synthesize.synthesize` labels the train split with the rule-based
   teacher (a ScriptedEngine, the code path of a real teacher) and applies the self-consistency
   filter;
3. :func:`~reasonrank.training.toy_model.build_toy_model` builds the tiny model (random weights);
4. :func:`~reasonrank.training.sft.run_sft` fine-tunes it on the kept examples;
5. :func:`~reasonrank.training.grpo.run_grpo` continues from the SFT checkpoint with the
   multi-view reward plus the format reward;
6. :func:`~reasonrank.training.heldout.evaluate_checkpoint` measures format rate and nDCG@10 on
   the held-out split after each stage, next to the random-order baseline.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasonrank.training.config import GRPOSettings, SFTSettings, load_settings
from reasonrank.training.examples import read_examples

log = logging.getLogger(__name__)


@dataclass
class ToyChainSettings:
    """Sizes and hyperparameters of one chain run (defaults: the benchmark's CPU run)."""

    seed: int = 0
    # Windows of 4: after 10 SFT epochs a 2-layer model wrote a complete permutation for 0.98 of
    # held-out windows of 4 but only 0.42 of windows of 6 (its per-passage counts in <think> were
    # right for 26 of 60 windows); see training/toy_task.py.
    window_size: int = 4
    train_queries: int = 400
    heldout_queries: int = 60
    # SFT of 10 epochs (~240 steps): held-out format rate 0.98 on seed 0, where 5 epochs stopped
    # at 0.37-0.67 (seeds 0-2): the per-passage counts come late, after a plateau where
    # every <think> count is 0 (benchmarks/training/results/training_curve_sft5_seed*.json).
    sft: dict[str, Any] = field(default_factory=lambda: {
        "learning_rate": 3e-3, "num_train_epochs": 10.0, "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 1, "lr_scheduler_type": "cosine", "warmup_ratio": 0.05,
    })
    grpo: dict[str, Any] = field(default_factory=lambda: {
        # 32 rollouts a step = 4 prompts x 8 generations: with 2 prompts a step the mean reward
        # jumped by +-0.5 from step to step (which prompts were drawn), hiding any trend.
        # lr 2e-4: from the 10-epoch SFT checkpoint (seed 0), 30 steps rose 1.19 -> 1.53
        # (first -> last quarter) at 3e-4 but held-out nDCG@10 fell 0.92 -> 0.87; at 1e-4 they
        # rose only 1.36 -> 1.44 (nDCG@10 0.94). From a weaker 5-epoch checkpoint 3e-4 rose on
        # 3 of 3 seeds but traded ranking for format (held-out nDCG@10 down to near random).
        # max_completion_length 56: a window of 4's answer is ~40 tokens of the toy tokenizer.
        "learning_rate": 2e-4, "max_steps": 30, "per_device_train_batch_size": 32,
        "gradient_accumulation_steps": 1, "num_generations": 8, "max_completion_length": 56,
        "temperature": 1.0, "beta": 0.001, "format_reward_weight": 0.5,
    })
    rl_examples: int | None = 200  # GRPO prompts drawn from the kept examples (None: all)
    eval_max_tokens: int = 64
    # torch threads. On a shared 2-core machine one thread ran a training step of the toy model
    # 10x faster than two (2 s vs 20 s at load ~40: two threads spin against other jobs).
    threads: int | None = 1
    # ToyTaskConfig / ToyModelConfig fields that differ from their defaults.
    task: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    # "cpu" or "cuda": where SFT, GRPO and the held-out generation run (TRL trains on the GPU
    # whenever one is visible; the benchmark hides it for --device cpu).
    device: str = "cpu"
    # A Qwen tokenizer folder to take the chat template from (default: the embedded GGUF's).
    chat_template_source: str | None = None


# Settings every CPU run of the chain needs whatever its size (float32, no checkpointing).
_CPU = {"bf16": False, "gradient_checkpointing": False, "report_to": "none", "logging_steps": 1}


def run_toy_chain(work_dir: str | Path, settings: ToyChainSettings | None = None) -> dict[str, Any]:
    """Run the chain in ``work_dir``; returns the report (also written to ``report.json``)."""
    settings = settings or ToyChainSettings()
    from reasonrank.training.grpo import reward_trend, run_grpo
    from reasonrank.training.heldout import evaluate_checkpoint, random_order_ndcg
    from reasonrank.training.sft import run_sft
    from reasonrank.training.synthesize import SynthesisSettings, synthesize
    from reasonrank.training.toy_model import ToyModelConfig, build_toy_model, qwen_chat_template
    from reasonrank.training.toy_task import (
        ToyTaskConfig,
        prompt_phrases,
        toy_teacher_engine,
        write_toy_task,
    )

    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    work = Path(work_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    splits = write_toy_task(work / "data", train_queries=settings.train_queries,
                            heldout_queries=settings.heldout_queries, seed=settings.seed,
                            config=ToyTaskConfig(window_size=settings.window_size, **settings.task))
    teacher = toy_teacher_engine(seed=settings.seed)
    synth = synthesize(splits["train"], work / "synth", teacher,
                       SynthesisSettings(kinds=("listwise",), window_size=settings.window_size))
    sft_file = work / "synth" / "listwise.jsonl"
    rows = read_examples(sft_file)
    timings["synthesize_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    texts = [m["content"] for r in rows for m in r["messages"]]
    base = build_toy_model(work / "base", texts, seed=settings.seed,
                           fixed_phrases=prompt_phrases(settings.window_size),
                           config=ToyModelConfig(**settings.model),
                           chat_template=qwen_chat_template(settings.chat_template_source))
    timings["build_model_s"] = time.perf_counter() - t0

    def evaluate(model_dir: Path) -> dict[str, Any]:
        return evaluate_checkpoint(model_dir, splits["heldout"], window_size=settings.window_size,
                                   max_tokens=settings.eval_max_tokens, device=settings.device)

    baseline = random_order_ndcg(splits["heldout"], window_size=settings.window_size, seed=settings.seed)
    before = evaluate(base)

    t0 = time.perf_counter()
    sft_settings = load_settings(SFTSettings, None, **(
        {"model": str(base), "train_file": str(sft_file), "output_dir": str(work / "sft"),
         "max_length": 1024, "save_strategy": "no", "seed": settings.seed} | _CPU | settings.sft))
    sft = run_sft(sft_settings)
    timings["sft_s"] = time.perf_counter() - t0
    after_sft = evaluate(work / "sft")

    rl_file = work / "synth" / "listwise_rl.jsonl"
    rl_rows = rows[-settings.rl_examples:] if settings.rl_examples else rows
    rl_file.write_text("".join(json.dumps(r) + "\n" for r in rl_rows), encoding="utf-8")
    t0 = time.perf_counter()
    grpo_settings = load_settings(GRPOSettings, None, **(
        {"model": str(work / "sft"), "train_file": str(rl_file), "output_dir": str(work / "grpo"),
         "max_prompt_length": 1024, "save_steps": 10**6, "seed": settings.seed} | _CPU | settings.grpo))
    grpo = run_grpo(grpo_settings)
    timings["grpo_s"] = time.perf_counter() - t0
    after_grpo = evaluate(work / "grpo")

    report = {
        "settings": asdict(settings),
        "synthesis": synth["listwise"]["this_run"],
        "random_order_ndcg10": baseline,
        "heldout": {"base": before, "sft": after_sft, "grpo": after_grpo},
        "sft": {"losses": sft["losses"], "steps": sft["steps"], "train_loss": sft["train_loss"]},
        "grpo": {"steps": grpo["steps"], "curve": grpo["curve"], "trend": reward_trend(grpo["curve"]),
                 "format_trend": reward_trend(grpo["curve"], "rewards/format_rewards/mean")},
        "timings": timings,
    }
    (work / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
