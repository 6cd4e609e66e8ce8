"""The embedded model in ``transformers``: the shipped GGUF de-quantized once, cached as safetensors.

llama.cpp does not expose attention weights; attention-based reranking (ICR) needs them. This
engine loads the same Qwen2.5-Coder-0.5B-Instruct weights that the ``embedded`` extra ships,
de-quantized by ``transformers`` from the GGUF (slow: about a minute), and saves model and
tokenizer with ``save_pretrained`` (safetensors) into the reasonrank cache, so later loads take
seconds. Eager attention is switched on only for the calls that read attention weights.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from reasonrank.engines.embedded_model import (
    EMBEDDED_GGUF_SHA256,
    EMBEDDED_MODEL_NAME,
    cache_dir,
    embedded_gguf_path,
)
from reasonrank.engines.transformers import TransformersEngine
from reasonrank.errors import EngineUnavailableError


def embedded_hf_dir() -> Path:
    """The safetensors copy of the embedded model (built from the GGUF on first use)."""
    target = cache_dir() / "models" / f"{EMBEDDED_MODEL_NAME}-hf-{EMBEDDED_GGUF_SHA256[:12]}"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise EngineUnavailableError(
            f"the embedded-hf engine needs transformers, gguf and torch: pip install 'reasonrank[transformers,embedded]' ({exc})"
        ) from None
    gguf = embedded_gguf_path()
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    except (OSError, ValueError, ImportError) as exc:
        raise EngineUnavailableError(f"could not de-quantize {gguf}: {exc}") from None
    # Write into a private folder, then rename: concurrent first uses never see half a model.
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _save_dequantized(model, tmp)
    tok.save_pretrained(tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
    """The embedded default model run by transformers on CPU (float32): no arguments needed.

    Keyword arguments of :class:`TransformersEngine` (``max_batch_size``, ``dtype``...) apply.
    ``load_seconds`` records the load time (the first load also de-quantizes the GGUF).
    """

    name = "embedded-hf"

    def __init__(self, **kwargs: Any) -> None:
        started = time.perf_counter()
        folder = embedded_hf_dir()
        kwargs.setdefault("device", "cpu")
        super().__init__(str(folder), **kwargs)
        self.model_name = f"{EMBEDDED_MODEL_NAME} (embedded, transformers)"
        self.load_seconds = time.perf_counter() - started
