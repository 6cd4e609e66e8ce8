"""The widened variable-length model (:mod:`reasonrank.testing.widen_model`) computes the tiny
model's function: same logits up to float rounding, same greedy tokens."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_wide_model_matches_the_tiny_one(tiny_model_path) -> None:
    from reasonrank.testing.varlen_model import varlen_model_dir
    from reasonrank.testing.widen_model import widen
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = varlen_model_dir()
    small = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(path)
    # 4x wider, 3 layers (one extra), a wider MLP and query groups of 4 (the tiny model's: 2)
    wide = widen(small, hidden=512, layers=3, intermediate=1024, kv_width=128)
    assert wide.config.num_attention_heads == 16 and wide.config.num_key_value_heads == 4
    ids = torch.tensor([tok.encode("Rank these passages: [1] cats purr [2] dogs bark [3] fish swim " * 4)])
    with torch.no_grad():
        a, b = small(ids).logits, wide(ids).logits
        assert torch.allclose(a, b, atol=2e-4, rtol=1e-4)
        ga = small.generate(ids, max_new_tokens=8, do_sample=False)
        gb = wide.generate(ids, max_new_tokens=8, do_sample=False)
    assert ga.tolist() == gb.tolist()


def test_sizes_that_cannot_hold_the_tiny_model_are_refused() -> None:
    from reasonrank.testing.varlen_model import varlen_model_dir
    from reasonrank.testing.widen_model import widen
    from transformers import AutoModelForCausalLM

    small = AutoModelForCausalLM.from_pretrained(varlen_model_dir(), dtype=torch.float32)
    with pytest.raises(ValueError, match="cannot embed"):
        widen(small, hidden=512, layers=1, intermediate=1024, kv_width=128)
