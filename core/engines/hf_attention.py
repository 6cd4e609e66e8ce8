"""Attention readouts from a Hugging Face causal LM (the ``attention`` capability of the
transformers engines, used by in-context reranking, ICR).

One forward pass over the shared part of the prompt (chat-template head and the segments) fills
a KV cache; each probe then continues that cache with eager attention and ``output_attentions``,
so only the probe's rows of the attention matrices are computed and kept (a few MB, not the full
``layers x heads x n x n``). Each probe continues its own copy of the shared cache. This is
the KV-cache reuse of the official ICR code (github OSU-NLP-Group/In-Context-Reranking,
``src/in_context_reranker.py``, ``get_sorted_docs`` with ``masked_NA_calibration``); the
aggregation follows its ``score_documents``: attention averaged over the probe's tokens, summed
over layers and heads.
"""
from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reasonrank.engines.base import (
    AttentionReadout,
    AttentionRequest,
    ChatRequest,
    defang_control_tokens,
)
from reasonrank.errors import InvalidInputError, PromptTooLongError

_SPLIT = "\u2063reasonrank-attention-split\u2063"


def template_split(engine: Any, system: str | None) -> tuple[str, str]:
    """The chat template's text before and after the user message's content."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": _SPLIT}
    ]
    rendered = engine.render(ChatRequest.of(messages))
    head, sep, tail = rendered.partition(_SPLIT)
    if not sep:
        raise ValueError("the chat template does not render the user message verbatim")
    return head, tail


def _eager(model: Any) -> Any:
    """Context that switches the model to eager attention (which returns the weights)."""
    import contextlib

    @contextlib.contextmanager
    def switch():
        config = model.config
        before = getattr(config, "_attn_implementation", "eager")
        if before != "eager":
            model.set_attn_implementation("eager")
        try:
            yield
        finally:
            if before != "eager":
                model.set_attn_implementation(before)

    return switch()


@dataclass
class HeadAttention:
    """Per-head attention of one :class:`AttentionRequest`: ``per_probe[p]`` is a
    ``(layers, heads, n)`` tensor (float64) of the attention that probe ``p``'s tokens pay to
    each of the ``n`` shared-prefix tokens, averaged over the probe's tokens;
    ``spans[s]`` is segment ``s``'s ``(start, end)`` in those ``n`` positions."""

    per_probe: list[Any]
    spans: list[tuple[int, int]]
    tokens: list[list[str]]
    prompt_tokens: int
    seconds: float


def attention_by_head(engine: Any, request: AttentionRequest) -> HeadAttention:
    """Run one :class:`AttentionRequest` on ``engine`` (``.model``, ``.tokenizer``, ``.encode``,
    ``.render``, ``._torch``, ``.device``, ``.max_context``) and keep every layer and head."""
    torch = engine._torch
    from transformers import DynamicCache

    started = time.perf_counter()
    specials = [t for t in getattr(engine.tokenizer, "all_special_tokens", []) if len(t) > 2]
    head, tail = template_split(engine, request.system)
    head_ids = engine.encode(head)
    tail_ids = engine.encode(tail)
    seg_ids = [engine.encode(defang_control_tokens(s, specials)) for s in request.segments]
    probe_ids = [engine.encode(defang_control_tokens(p, specials)) + tail_ids for p in request.probes]
    prefix = head_ids + [t for ids in seg_ids for t in ids]
    longest = len(prefix) + max((len(p) for p in probe_ids), default=0)
    if engine.max_context and longest >= engine.max_context:
        raise PromptTooLongError(
            f"attention prompt has {longest} tokens; {engine.model_name} takes {engine.max_context}"
        )
    n = len(prefix)
    per_probe = []
    # The decoder without the LM head: no vocabulary-sized logits for every prompt position.
    decoder = engine.model.get_decoder()
    # transformers renamed `past_key_values` to `cache` (5.x deprecation): use what it takes.
    cache_arg = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
    with engine._lock, torch.inference_mode():
        cache = DynamicCache()
        ids = torch.tensor([prefix], dtype=torch.long, device=engine.device)
        decoder(input_ids=ids, use_cache=True, **{cache_arg: cache})
        with _eager(engine.model):
            for probe in probe_ids:
                # A copy per probe (tens of MB): the cache's crop API differs between versions.
                out = decoder(
                    input_ids=torch.tensor([probe], dtype=torch.long, device=engine.device),
                    **{cache_arg: copy.deepcopy(cache)},
                    use_cache=True,
                    output_attentions=True,
                )
                # Each layer: (1, heads, probe_len, n + probe_len) -> (heads, n), the mean over
                # the probe's tokens (ICR's score_documents).
                per_probe.append(torch.stack([layer[0, :, :, :n].double().mean(dim=1) for layer in out.attentions]))
    spans, at = [], len(head_ids)
    for ids_ in seg_ids:
        spans.append((at, at + len(ids_)))
        at += len(ids_)
    return HeadAttention(
        per_probe=per_probe,
        spans=spans,
        tokens=[engine.tokenizer.convert_ids_to_tokens(ids_) for ids_ in seg_ids],
        prompt_tokens=n + sum(len(p) for p in probe_ids),
        seconds=time.perf_counter() - started,
    )


def attention_readout(engine: Any, request: AttentionRequest) -> AttentionReadout:
    """:func:`attention_by_head`, summed over heads and the request's layers (all by default:
    ICR's ``score_documents``)."""
    heads = attention_by_head(engine, request)
    weights = []
    for per_head in heads.per_probe:
        if request.layers is not None:
            n_layers = per_head.shape[0]
            if not request.layers or any(not -n_layers <= i < n_layers for i in request.layers):
                raise InvalidInputError(f"layers must be indices of the model's {n_layers} layers, got {list(request.layers)}")
            per_head = per_head[[i % n_layers for i in request.layers]]
        flat = per_head.sum(dim=(0, 1)).cpu().tolist()
        weights.append([flat[a:b] for a, b in heads.spans])
    return AttentionReadout(weights=weights, tokens=heads.tokens, prompt_tokens=heads.prompt_tokens,
                            seconds=heads.seconds)


def attention_readouts(engine: Any, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
    """:func:`attention_readout` for each request (one prompt at a time: prompts differ)."""
    return [attention_readout(engine, r) for r in requests]
