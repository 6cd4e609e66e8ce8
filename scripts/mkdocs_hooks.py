"""MkDocs hook (mkdocs.yml ``hooks:``): lays the sources out under their import names for
mkdocstrings, as scripts/typecheck.sh does for mypy. The ``reasonrank`` package lives in the
folder ``core/`` (and ``reasonrank.training`` in ``training/``), which a static reader of the
source tree cannot map by itself; symlinks in ``.cache/docs-src`` give it the installed layout."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / ".cache" / "docs-src"
LINKS = {
    "reasonrank": ROOT / "core",
    "llama_index_reasonrank": ROOT / "llama_index_reasonrank",
    "haystack_reasonrank": ROOT / "haystack_reasonrank",
    "langchain_reasonrank": ROOT / "langchain_reasonrank",
}


@event_priority(100)  # before mkdocstrings reads its paths (a missing folder is dropped)
def on_config(config: Any) -> Any:
    TREE.mkdir(parents=True, exist_ok=True)
    for name, target in LINKS.items():
        link = TREE / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
    return config
