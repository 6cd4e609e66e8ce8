"""A tiny Qwen2 model whose greedy outputs END after a context-dependent number of tokens.

The random tiny models of :mod:`reasonrank.testing.tiny_model` never emit EOS, so every request spends its whole
token budget and all requests of a batch are equally long: lockstep batching then costs nothing,
which hides what real reasoning lengths do to a scheduler. This variant starts from the vLLM-sized
tiny model (head_dim 32, which vLLM's CPU kernels accept), unties the output layer from the input
embeddings and rewrites one row of it: the EOS (``<|im_end|>``) row becomes :data:`EOS_ROW`.

How the row was chosen: the random model's greedy output repeats one token, and as the repeats
fill the context its final hidden state drifts steadily in one direction, at a pace set by the
prompt. The row points along that drift (mean late minus mean early hidden state over greedy
trajectories of 32 DL19 listwise windows), mixed with the two main directions in which the
windows' hidden states differ, and scaled so that EOS wins the argmax after a prompt-dependent
number of steps: on those windows (100-token passages) 1 to 96 tokens, median 48, p10 3, p90 73
(found by a small search against the recorded trajectories; the benchmarks report the lengths
they actually get, which shift with prompt length).
Nothing else changes: the lengths come out of the model's own greedy decoding, identically in
every engine (vLLM, transformers) and every scheduling mode.

Built once per machine into ``$REASONRANK_CACHE/test-models`` and reused.
"""
from __future__ import annotations

from pathlib import Path

from reasonrank.testing.tiny_model import save_model, tiny_model_dir

# The EOS row (hidden size 128): see the module docstring.
EOS_ROW = [
    0.0971, -0.0941, 0.3287, -0.0845, -0.1357, -0.0700, -0.7653, -0.2278, -0.0811, 0.0209, -0.0664,
    -0.0348, 0.0443, 0.3393, 0.3792, 0.4601, 0.3066, -0.1614, -0.3153, -0.0440, -0.1714, 0.0821,
    0.2707, -0.3298, 0.0192, -0.0113, -0.1398, -0.1714, -0.4778, -0.2440, -0.6266, 0.2936, 0.7832,
    0.4028, 0.0920, 0.0807, -0.1203, -0.0687, -0.3223, -0.0331, 0.2713, 0.2218, 0.2393, -0.4889,
    -0.3573, -0.1350, 0.1891, 0.5561, -0.0633, 0.3219, 0.1235, -0.4188, 0.1180, -0.3516, 0.3098,
    0.0092, 0.2432, -0.1400, 0.1963, -0.4905, -0.1174, -0.1906, 0.0210, 0.1438, 0.1774, 0.0811,
    0.2797, 0.1455, 0.5010, 0.1670, -0.1811, 0.6885, 0.1011, 0.1148, 0.0695, -0.2405, -0.0576,
    0.0886, 0.1556, -0.2613, 0.1197, -0.4785, 0.1317, -0.4429, 0.0206, 0.1030, -0.6504, -0.1336,
    0.1954, 0.0691, 0.4391, -0.2719, 0.1910, -0.0489, 0.0574, -0.3688, 0.3020, 0.1315, -0.2700,
    0.3566, 0.1271, 0.2604, -0.5180, 0.1978, -0.1880, 0.0610, 0.3252, 0.2535, -0.0341, -0.2477,
    0.1957, -0.1765, -0.2292, -0.0944, -0.1769, -0.1914, -0.5452, -0.0162, 0.1435, 0.3863, 0.0961,
    -0.5149, 0.3584, -0.0924, 0.2036, -0.0428, -0.1349, -0.2051
]
DEFAULT_SCALE = 1.0  # multiplies EOS_ROW: larger ends outputs sooner


def varlen_model_dir(scale: float = DEFAULT_SCALE, seed: int = 0) -> Path:
    # EOS_ROW was fitted to the trajectories of seed 0's model; other seeds get the same row.
    """A folder loadable by vLLM and transformers: the tiny vLLM model with its EOS row rewritten."""
    base = tiny_model_dir(seed=seed, variant="vllm")
    target = base.with_name(f"{base.name}-varlen-v2-{scale:g}")
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(base)
    eos = model.config.eos_token_id
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=False)
    with torch.no_grad():
        embeddings: torch.Tensor = model.get_input_embeddings().weight  # type: ignore[assignment]
        head.weight.copy_(embeddings)  # untie: same rows, own tensor
        head.weight[eos] = scale * torch.tensor(EOS_ROW)
    model.lm_head = head
    model.config.tie_word_embeddings = False
    return save_model(model, tok, target)


if __name__ == "__main__":  # python -m reasonrank.testing.varlen_model [scale]
    import sys

    print(varlen_model_dir(float(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SCALE))
