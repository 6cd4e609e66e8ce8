"""Smoke checks of the benchmark scripts (fast; the benchmarks themselves are not tests and are
not collected): each test imports its script by name from its ``benchmarks/`` folder."""
from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
for folder in (BENCHMARKS / "training",):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
