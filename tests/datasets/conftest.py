"""The named-benchmark tests need the ``datasets`` extra (helpers in dataset_helpers.py)."""
from __future__ import annotations

import pytest

pytest.importorskip("bm25s")
pytest.importorskip("ir_datasets")
pytest.importorskip("datasets")
