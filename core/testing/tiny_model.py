"""Build a tiny random Qwen2-style causal LM with the real Qwen tokenizer, locally.

The tokenizer comes from the embedded GGUF (the ``embedded`` extra ships it), so the chat
template, special tokens and tokenization are the real Qwen2.5 ones; the weights are random and
tiny (2 layers, hidden 64), so generation is fast and meaningless. Built once per machine into
``$REASONRANK_CACHE/test-models`` and reused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonrank.engines.embedded_model import EMBEDDED_GGUF_SHA256, cache_dir, embedded_gguf_path
from reasonrank.files import atomic_path

TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
}


def qwen_tokenizer_dir() -> Path:
    """A folder with the real Qwen2.5 tokenizer, extracted from the embedded GGUF once."""
    target = cache_dir() / "test-models" / f"qwen-tokenizer-{EMBEDDED_GGUF_SHA256[:12]}"
    if (target / "tokenizer_config.json").is_file():
        return target
    from transformers import AutoTokenizer

    gguf = embedded_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    with atomic_path(target, directory=True, overwrite=False) as tmp:  # a concurrent builder's copy is the same
        tok.save_pretrained(tmp)
    return target


# vLLM's CPU attention kernels take head_dim 32 and up (head_dim 16 fails: "Unsupported CPU
# attention configuration"), so its tests use this slightly wider variant.
VLLM_CONFIG: dict[str, Any] = dict(TINY_CONFIG, hidden_size=128, intermediate_size=256, head_dim=32)


def tiny_model_dir(seed: int = 0, variant: str = "default") -> Path:
    """A folder loadable with ``AutoModelForCausalLM.from_pretrained``; ``variant="vllm"`` is
    the one vLLM's CPU kernels accept."""
    config_values = {"default": TINY_CONFIG, "vllm": VLLM_CONFIG}[variant]
    target = _tiny_target(seed, variant)
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir())
    # torch_dtype goes through Qwen2Config's **kwargs (its typed signature does not list it).
    config = Qwen2Config(  # type: ignore[call-arg]
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
        torch_dtype="float32",
        **config_values,
    )
    torch.manual_seed(seed)
    return save_model(Qwen2ForCausalLM(config), tok, target)


def save_model(model: Any, tokenizer: Any, target: Path) -> Path:
    """Write model and tokenizer to ``target`` via a temp folder (concurrent builders are safe)."""
    with atomic_path(target, directory=True, overwrite=False) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def _tiny_target(seed: int, variant: str) -> Path:
    suffix = "" if variant == "default" else f"-{variant}"
    return cache_dir() / "test-models" / f"tiny-qwen2-s{seed}{suffix}-{EMBEDDED_GGUF_SHA256[:12]}"


def _cached_tiny_model_dir(variant: str) -> Path | None:
    """The built folder of ``tiny_model_dir(variant=variant)`` if it exists, without building."""
    target = _tiny_target(0, variant)
    return target if (target / "config.json").is_file() else None


if __name__ == "__main__":  # build ahead: python -m reasonrank.testing.tiny_model [vllm] [--cached-only]
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    variant = args[0] if args else "default"
    if "--cached-only" in sys.argv:  # a venv without the embedded model's packages checks only
        found = _cached_tiny_model_dir(variant)
        if found is None:
            sys.exit(f"tiny model {variant!r} not built under {cache_dir() / 'test-models'}")
        print(found)
    else:
        print(tiny_model_dir(variant=variant))
