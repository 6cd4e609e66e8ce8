"""Cold-start SFT with TRL's SFTTrainer (loss on the assistant turn only, LoRA optional)."""
from __future__ import annotations

import logging
from typing import Any

from reasonrank.training.config import SFTSettings, as_dict
from reasonrank.training.examples import read_examples, sft_records
from reasonrank.training.modeling import (
    common_trainer_kwargs,
    load_tokenizer,
    lora_config,
    write_preset,
)

log = logging.getLogger(__name__)


def run_sft(settings: SFTSettings, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train, save the model and tokenizer to ``settings.output_dir``, write a reranker preset.

    Returns the losses logged per step (``losses``), the final ``train_loss`` and the paths.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = read_examples(settings.train_file)
    kinds = {r.get("kind", "listwise") for r in rows}
    if len(kinds) != 1:
        raise ValueError(f"{settings.train_file} mixes example kinds {sorted(kinds)}; train one at a time")
    dataset = Dataset.from_list(sft_records(rows))
    tokenizer = load_tokenizer(settings.model)
    args = SFTConfig(
        **common_trainer_kwargs(settings),
        lr_scheduler_type=settings.lr_scheduler_type,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float < 1 is a ratio of all steps
        max_length=settings.max_length,
        save_strategy=settings.save_strategy,
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=settings.model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(settings.lora),
        callbacks=callbacks,
    )
    result = trainer.train()
    trainer.save_model(settings.output_dir)
    tokenizer.save_pretrained(settings.output_dir)
    method = "listwise" if kinds == {"listwise"} else "pointwise"
    preset = write_preset(settings.output_dir, method=method, description="SFT checkpoint")
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    log.info("SFT done: %d steps, final loss %s", trainer.state.global_step, losses[-1:] or "n/a")
    return {
        "train_loss": float(result.training_loss),
        "losses": losses,
        "steps": trainer.state.global_step,
        "output_dir": settings.output_dir,
        "preset": str(preset),
        "settings": as_dict(settings),
    }
