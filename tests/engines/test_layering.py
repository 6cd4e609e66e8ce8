"""Engines know nothing of ranking: no module under reasonrank.engines imports the methods or
the scheduler (issue 25); the scheduler imports no method."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("engines", ("reasonrank.methods", "reasonrank.scheduling")),
    ("scheduling", ("reasonrank.methods",)),
])
def test_lower_layers_do_not_import_higher_ones(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = {f"{path.name}: {name}" for path in sorted((CORE / folder).glob("*.py"))
           for name in imported_modules(path) if name.startswith(forbidden)}
    assert not bad
