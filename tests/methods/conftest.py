"""Fixtures of the method tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def river() -> tuple[str, list[dict[str, str]]]:
    """A question and three passages, two about rivers and one off topic (the embedded-model
    tests: short enough for tiny budgets)."""
    docs = [
        {"id": "nile", "text": "The Nile is about 6,650 km long and is often called the longest river in the world."},
        {"id": "cake", "text": "Preheat the oven to 180 degrees and mix flour, sugar and eggs for the cake."},
        {"id": "amazon", "text": "The Amazon river carries more water than any other river on Earth."},
    ]
    return "What is the longest river in the world?", docs
