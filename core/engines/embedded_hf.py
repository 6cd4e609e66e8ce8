"""The embedded models in ``transformers``: a shipped GGUF de-quantized once, cached as safetensors.

llama.cpp does not expose attention weights; attention-based reranking (ICR) needs them. This
engine loads the same Qwen2.5-Coder-Instruct weights that the ``embedded`` (0.5B) or
``embedded-1.5b`` extra ships, de-quantized by ``transformers`` from the GGUF (slow: about a
minute for the 0.5B, two for the 1.5B), and saves model and tokenizer with ``save_pretrained``
(safetensors) into the reasonrank cache, so later loads take seconds. Eager attention is switched
on only for the calls that read attention weights.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from reasonrank.engines.embedded_model import (
    ShippedModel,
    cache_dir,
    embedded_gguf_path,
    embedded_model,
)
from reasonrank.engines.resources import require_free_disk, require_free_memory
from reasonrank.engines.transformers import TransformersEngine
from reasonrank.errors import EngineUnavailableError
from reasonrank.files import atomic_path


def embedded_hf_dir(model: str | None = None) -> Path:
    """The safetensors copy of embedded ``model`` (None: the default 0.5B), built from its GGUF
    on first use."""
    spec = embedded_model(model)
    target = cache_dir() / "models" / f"{spec.name}-hf-{spec.sha256[:12]}"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise EngineUnavailableError(
            f"the embedded-hf engine needs transformers, gguf and torch: {spec.install_hint} ({exc})"
        ) from None
    gguf = embedded_gguf_path(model=spec.key)
    require_free_disk(target.parent, spec.hf_bytes, f"de-quantizing {spec.key} into {target.name}")
    require_free_memory(spec.needs_gb("dequantize"), f"de-quantizing the {spec.key} model (once)")
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    except (OSError, ValueError, ImportError) as exc:
        raise EngineUnavailableError(f"could not de-quantize {gguf}: {exc}") from None
    # Write into a private folder, then rename: concurrent first uses never see half a model
    # (the first to finish wins; the others' copies, the same model, are dropped).
    with atomic_path(target, directory=True, overwrite=False) as tmp:
        _save_dequantized(loaded, tmp)
        tok.save_pretrained(tmp)
    return target


def _check_memory(spec: ShippedModel) -> None:
    require_free_memory(spec.needs_gb("transformers"), f"the {spec.key} model in transformers (float32)")


def _save_dequantized(model: Any, folder: Path) -> None:
    """Save a GGUF-loaded (already de-quantized, float32) model as a plain safetensors folder.

    transformers 5 marks models loaded from GGUF as quantized and refuses ``save_pretrained``;
    their weights are ordinary tensors, so the state dict and a config without the quantization
    entry are written directly.
    """
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"))  # handles the tied embedding/LM head


class EmbeddedTransformersEngine(TransformersEngine):
    """An embedded model run by transformers on CPU (float32): no arguments needed.

    ``model`` picks the shipped model (``"embedded-0.5b"``, the default, or ``"embedded-1.5b"``).
    Keyword arguments of :class:`TransformersEngine` (``max_batch_size``, ``dtype``...) apply.
    ``load_seconds`` records the load time (the first load also de-quantizes the GGUF).
    """

    name = "embedded-hf"

    def __init__(self, model: str | None = None, **kwargs: Any) -> None:
        started = time.perf_counter()
        spec = embedded_model(model)
        _check_memory(spec)  # before anything is loaded: one clear error on too small a machine
        folder = embedded_hf_dir(spec.key)
        kwargs.setdefault("device", "cpu")
        super().__init__(str(folder), **kwargs)
        self.model_name = f"{spec.name} (embedded, transformers)"
        self.load_seconds = time.perf_counter() - started
