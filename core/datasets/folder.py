"""A local dataset folder as a :class:`Collection` (for a bm25s first stage over its corpus)."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reasonrank.data import (
    iter_corpus_jsonl,
    read_corpus_jsonl,
    read_folder_qrels,
    read_folder_queries,
)
from reasonrank.datasets.collection import Collection
from reasonrank.errors import InvalidInputError


def folder_collection(root: str | Path, corpus: str = "corpus.jsonl") -> Collection:
    """The queries, qrels and ``corpus`` file of a dataset or BEIR folder.

    The corpus's path, size and modification time name it in the index cache, so an edited
    corpus gets a new index.
    """
    root = Path(root)
    corpus_path = root / corpus
    if not corpus_path.is_file():
        raise InvalidInputError(f"{root}: no {corpus} (the corpus a first stage searches)")
    stat = corpus_path.stat()

    def get_docs(ids: Iterable[str]):
        return read_corpus_jsonl(corpus_path, ids=set(ids))

    return Collection(
        name=root.name,
        queries=read_folder_queries(root),
        qrels=read_folder_qrels(root),
        corpus_key=f"folder:{corpus_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}",
        iter_docs=lambda: iter_corpus_jsonl(corpus_path),
        get_docs=get_docs,
        source={"kind": "folder", "path": str(root)},
    )
