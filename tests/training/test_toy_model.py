"""The toy model's chat template source (fast). The training-curve benchmark's own options are
tested beside it: ``tests/benchmarks/test_training_curve.py``."""
from __future__ import annotations

from pathlib import Path

from reasonrank.training.toy_model import qwen_chat_template


def test_chat_template_is_read_from_a_saved_jinja_file(tmp_path: Path) -> None:
    # A folder holding only the saved template (what the GPU run carries): no tokenizer load.
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}<|im_start|>", encoding="utf-8")
    assert qwen_chat_template(tmp_path) == "{{ messages }}<|im_start|>"
