"""A tiny Qwen2 model whose greedy outputs END after a context-dependent number of tokens.

The random tiny models of :mod:`tiny_model` never emit EOS, so every request spends its whole
token budget and all requests of a batch are equally long: lockstep batching then costs nothing,
which hides what real reasoning lengths do to a scheduler. This variant starts from the vLLM-sized
tiny model (head_dim 32, which vLLM's CPU kernels accept), unties the output layer from the input
embeddings and rewrites one row of it: the EOS (``<|im_end|>``) row becomes ``scale`` times a
fixed random unit direction. At every step EOS wins the greedy argmax when the final hidden state
points far enough along that direction, which happens at a step that depends on the prompt and
on what was generated so far: some outputs stop after a few tokens, most after tens, a long tail
runs to the budget (the spread of real reasoning, measured and reported by the benchmarks).
Nothing else changes: the lengths come out of the model's own greedy decoding, identically in
every engine (vLLM, transformers) and every scheduling mode.

Built once per machine into ``$REASONRANK_CACHE/test-models`` and reused.
"""
from __future__ import annotations

import os
from pathlib import Path

from tiny_model import tiny_model_dir

# Tuned on DL19 listwise windows (20 passages x 100 tokens): median tens of tokens, a long tail.
DEFAULT_SCALE = 0.5


def varlen_model_dir(scale: float = DEFAULT_SCALE, seed: int = 0) -> Path:
    """A folder loadable by vLLM and transformers: the tiny vLLM model with its EOS row rewritten."""
    base = tiny_model_dir(seed=seed, variant="vllm")
    target = base.with_name(f"{base.name}-varlen{scale:g}")
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(base)
    eos = model.config.eos_token_id
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=False)
    with torch.no_grad():
        head.weight.copy_(model.get_input_embeddings().weight)  # untie: same rows, own tensor
        direction = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(1000 + seed))
        head.weight[eos] = scale * direction / direction.norm()
    model.lm_head = head
    model.config.tie_word_embeddings = False
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if not target.exists():
        os.replace(tmp, target)
    return target


if __name__ == "__main__":  # python tests/varlen_model.py [scale]
    import sys

    print(varlen_model_dir(float(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SCALE))
