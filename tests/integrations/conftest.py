"""Fixtures of the LlamaIndex / Haystack wrapper tests (helpers in rr_integration_helpers.py)."""
from __future__ import annotations

import pytest
from reasonrank.engines.scripted import ScriptedEngine
from rr_integration_helpers import KeywordReranker, answer


@pytest.fixture
def scripted_engine() -> ScriptedEngine:
    return ScriptedEngine(answer, model_name="scripted-keyword")


@pytest.fixture
def keyword_reranker(scripted_engine) -> KeywordReranker:
    return KeywordReranker(scripted_engine)


@pytest.fixture
def slow_reranker() -> KeywordReranker:
    """Each engine call takes 0.2 s, so sequential and concurrent runs differ clearly."""
    return KeywordReranker(ScriptedEngine(answer, delay_fn=lambda r: 0.2, model_name="slow"))
