"""Widen the tiny variable-length Qwen2 into a 7B-sized model that computes the same function.

The variable-length model (:mod:`reasonrank.testing.varlen_model`: hidden 128, 2 layers) ends its greedy
outputs at context-dependent steps, which is what a scheduling benchmark needs, but on a GPU a
model that small is bound by Python and kernel launches, not by the GPU. :func:`widen` embeds it
in a model of any Qwen2 size whose extra parts cannot change the result:

* extra hidden dimensions stay exactly zero (zero embedding columns, and every weight that
  writes the residual stream has zero rows there); RMSNorm then sees a mean square ``h0/H`` times
  the original, which the norm weights (``* sqrt(h0/H)``) and ``rms_norm_eps`` (``* h0/H``) undo;
* the original heads keep their head size (32, so scaling and RoPE are unchanged) and their
  query -> key/value head grouping; extra heads, MLP neurons and layers are random but their
  output projections (``o_proj`` columns, ``down_proj``) are zero, so they add nothing.

All the arithmetic of the wide model is really done (random, full-size matrices), so its cost is
a real model's of that size; its greedy outputs equal the tiny model's up to float rounding
(checked by ``tests/test_widen_model.py`` in float32; in bfloat16 a few lengths may shift, the
benchmark reports the lengths it gets).
"""
from __future__ import annotations

import math
from typing import Any

# Qwen2.5 sizes (hidden, layers, MLP width, key/value width): query heads are hidden / 32 and
# key/value heads kv_width / 32 here (head size 32, the tiny model's), so the matrices have the
# real models' shapes.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden": 128, "layers": 2, "intermediate": 256, "kv_width": 64},
    "mini": {"hidden": 256, "layers": 4, "intermediate": 512, "kv_width": 64},  # CPU checks of the path
    "0.5b": {"hidden": 896, "layers": 24, "intermediate": 4864, "kv_width": 128},
    "1.5b": {"hidden": 1536, "layers": 28, "intermediate": 8960, "kv_width": 256},
    "3b": {"hidden": 2048, "layers": 36, "intermediate": 11008, "kv_width": 256},
    "7b": {"hidden": 3584, "layers": 28, "intermediate": 18944, "kv_width": 512},
}


def widen(small: Any, *, hidden: int, layers: int, intermediate: int, kv_width: int,
          device: str = "cpu", dtype: Any = None, seed: int = 0) -> Any:
    """A Qwen2 model of the given size computing ``small``'s function (see the module docstring)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    c = small.config
    d = c.head_dim
    h0, n0, k0, i0, layers0 = c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size, c.num_hidden_layers
    heads, kv_heads = hidden // d, kv_width // d
    g0, g = n0 // k0, (hidden // d) // max(1, kv_width // d)
    if hidden % d or kv_width % d or heads % kv_heads or g < g0 or kv_heads < k0 or hidden < h0 \
            or intermediate < i0 or layers < layers0:
        raise ValueError(f"cannot embed the {h0}-wide model in hidden={hidden}, kv_width={kv_width}, "
                         f"layers={layers}, intermediate={intermediate} (head size {d})")
    config = Qwen2Config(**{**c.to_dict(), "hidden_size": hidden, "num_hidden_layers": layers,
                            "intermediate_size": intermediate, "num_attention_heads": heads,
                            "num_key_value_heads": kv_heads, "head_dim": d, "layer_types": None,
                            "rms_norm_eps": c.rms_norm_eps * h0 / hidden, "tie_word_embeddings": False})
    dtype = dtype or torch.float32
    torch.manual_seed(seed)
    with torch.device(device):
        wide = Qwen2ForCausalLM(config).to(dtype)
    norm_scale = math.sqrt(h0 / hidden)
    # original query head i (key/value head i // g0) -> wide query head (i // g0) * g + i % g0
    q_rows = torch.cat([torch.arange(d) + ((i // g0) * g + i % g0) * d for i in range(n0)])
    src = dict(small.named_parameters())

    def put(name: str, zero: bool = False, scale: float = 1.0) -> None:
        """Copy the small tensor into the leading rows/columns of the wide one."""
        target = dict(wide.named_parameters())[name]
        value = src[name].detach().to(device=device, dtype=dtype) * scale
        if zero:
            target.zero_()
        target[tuple(slice(0, n) for n in value.shape)] = value

    with torch.no_grad():
        put("model.embed_tokens.weight", zero=True)
        put("lm_head.weight", zero=True)
        put("model.norm.weight", zero=True, scale=norm_scale)
        for n in range(layers):
            p = f"model.layers.{n}."
            params = dict(wide.named_parameters())
            if n >= layers0:  # an extra layer: real work, zero output
                params[p + "self_attn.o_proj.weight"].zero_()
                params[p + "mlp.down_proj.weight"].zero_()
                continue
            for norm in ("input_layernorm", "post_attention_layernorm"):
                put(p + f"{norm}.weight", zero=True, scale=norm_scale)
            for name in ("q_proj.weight", "q_proj.bias"):
                target, value = params[p + "self_attn." + name], src[p + "self_attn." + name]
                value = value.detach().to(device=device, dtype=dtype)
                if target.dim() == 1:
                    target[q_rows.to(device)] = value
                else:
                    target[q_rows.to(device), :h0] = value
            for name in ("k_proj.weight", "k_proj.bias", "v_proj.weight", "v_proj.bias"):
                put(p + "self_attn." + name)  # key/value head j stays head j
            o = params[p + "self_attn.o_proj.weight"]
            o.zero_()
            o[:h0, q_rows.to(device)] = src[p + "self_attn.o_proj.weight"].detach().to(device=device, dtype=dtype)
            put(p + "mlp.gate_proj.weight")
            put(p + "mlp.up_proj.weight")
            put(p + "mlp.down_proj.weight", zero=True)
    wide.generation_config = small.generation_config
    return wide.eval()


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
