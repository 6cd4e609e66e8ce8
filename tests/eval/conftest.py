"""Fixtures of the evaluation tests: the tiny dataset folders (helpers in eval_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny_dir() -> Path:
    return DATA / "tiny"


@pytest.fixture
def beir_dir() -> Path:
    return DATA / "beir"
