"""Helpers for tests and benchmarks: tiny local models, fake servers, scripted engines.

Not part of the reranking API: the test suite and ``benchmarks/`` import these so that both run
on the same fixtures (like ``haystack.testing`` or ``transformers.testing_utils``). Importing
this package is cheap; torch and transformers load only when a model is built.

- :mod:`~reasonrank.testing.tiny_model` — tiny random Qwen2 models with the real Qwen2.5
  tokenizer, built locally into ``$REASONRANK_CACHE/test-models``
  (``python -m reasonrank.testing.tiny_model [vllm] [--cached-only]`` builds them ahead);
- :mod:`~reasonrank.testing.varlen_model` — the tiny model whose greedy outputs end after a
  prompt-dependent number of tokens;
- :mod:`~reasonrank.testing.widen_model` — a wider, deeper model computing the same function;
- :mod:`~reasonrank.testing.scripted_engines` — engine factories for
  ``reasonrank serve --engine-factory reasonrank.testing.scripted_engines:NAME``;
- :mod:`~reasonrank.testing.ray_factories` — picklable reranker factories for Ray replicas;
- :mod:`~reasonrank.testing.bench_inputs` — DL19 queries with their BM25 passages, passages cut
  to N words, generated-length distributions (for the benchmark scripts);
- :mod:`reasonrank.testing.servers` — subprocess servers: llama.cpp's and vLLM's
  OpenAI-compatible servers, ``reasonrank serve``, an instant fake server in vLLM's shapes and
  a programmable fault server.
"""
from __future__ import annotations

import importlib.util


def has_module(name: str) -> bool:
    """Whether ``name`` is importable here (optional extras: tests skip or fail clearly)."""
    return importlib.util.find_spec(name) is not None
