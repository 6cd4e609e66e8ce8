"""Shared fixtures. Area-specific fixtures live in each test folder's own conftest.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from reasonrank.testing import has_module


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    """Folder of the tiny random Qwen2 model with the real Qwen tokenizer (built once)."""
    pytest.importorskip("transformers")
    from reasonrank.testing.tiny_model import tiny_model_dir

    return tiny_model_dir()


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_path):
    """A transformers engine over the tiny model, shared by the whole session."""
    from reasonrank.engines.transformers import TransformersEngine

    engine = TransformersEngine(model=str(tiny_model_path), device="cpu", dtype="float32")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def embedded_engine():
    """The embedded llama.cpp engine on the shipped Qwen2.5-0.5B (loaded once per session)."""
    if not has_module("llama_cpp"):
        pytest.fail("llama-cpp-python is not installed: bash scripts/install.sh llamacpp")
    from reasonrank.engines.llamacpp import EmbeddedEngine

    engine = EmbeddedEngine()
    yield engine
    engine.close()
