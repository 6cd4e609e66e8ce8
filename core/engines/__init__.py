"""LLM backends behind one protocol (:class:`~reasonrank.engines.base.Engine`).

Use :func:`create_engine` to build one by name; each backend's heavy package is imported only
when that backend is asked for.
"""
from __future__ import annotations

from typing import Any

from reasonrank.engines.base import (
    AttentionReadout,
    AttentionRequest,
    ChatRequest,
    ChoiceDistribution,
    EncodeRequest,
    Encoding,
    Engine,
    Generation,
    SamplingParams,
    normalize_logprobs,
)
from reasonrank.registry import load_registered

__all__ = [
    "ENGINES",
    "AttentionReadout",
    "AttentionRequest",
    "ChatRequest",
    "ChoiceDistribution",
    "EncodeRequest",
    "Encoding",
    "Engine",
    "Generation",
    "SamplingParams",
    "create_engine",
    "normalize_logprobs",
]

# name -> "module:class". "embedded" is llama.cpp on the model shipped by the embedded extra.
ENGINES: dict[str, str] = {
    "embedded": "reasonrank.engines.llamacpp:EmbeddedEngine",
    "llamacpp": "reasonrank.engines.llamacpp:LlamaCppEngine",
    "transformers": "reasonrank.engines.transformers:TransformersEngine",
    # The embedded model de-quantized into transformers (attention weights, for ICR).
    "embedded-hf": "reasonrank.engines.embedded_hf:EmbeddedTransformersEngine",
    "vllm": "reasonrank.engines.vllm:VLLMEngine",
    "openai": "reasonrank.engines.openai:OpenAIEngine",
    "scripted": "reasonrank.engines.scripted:ScriptedEngine",
    # Encoder models (bi-encoders and cross-encoders) for the dense and cross methods.
    "sentence-transformers": "reasonrank.engines.encoders:SentenceTransformersEngine",
}


def engine_class(name: str) -> type[Engine]:
    """The engine class registered under ``name`` (imports its module)."""
    cls: type[Engine] = load_registered(ENGINES, name, "engine")
    return cls


def create_engine(name: str, **kwargs: Any) -> Engine:
    """Build the engine ``name`` with backend-specific keyword arguments."""
    return engine_class(name)(**kwargs)
