"""The default first stage: BM25 with bm25s over a collection's whole corpus, cached on disk.

The index is built once per corpus and settings under ``CACHE/bm25s/<key>/`` (``CACHE`` is
``$REASONRANK_CACHE`` or ``~/.cache/reasonrank``, or ``cache_dir=``) and loaded memory-mapped
afterwards; DL19 and DL20 share MS MARCO's index. Each retrieved run is cached next to it, so
evaluating the same queries again reads a small JSON file instead of the index.

Settings follow Anserini/pyserini's BM25 for MS MARCO passage (k1=0.9, b=0.4, Lucene IDF,
English stopwords, Porter-family stemming), the first stage the ReasonRank and RankLLM papers
rerank; bm25s's own scores match Lucene's (bm25s README, "method='lucene'").
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasonrank.data import Run
from reasonrank.datasets.collection import Collection
from reasonrank.engines.embedded_model import cache_dir as default_cache_dir
from reasonrank.errors import DataUnavailableError, InvalidInputError
from reasonrank.files import atomic_path, write_atomic

INDEX_VERSION = 1  # bump when the index layout or tokenization changes


@dataclass(frozen=True)
class Bm25Settings:
    """BM25 parameters and tokenization (part of the index's cache key)."""

    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stopwords: str = "en"
    stemmer: str | None = "english"  # a PyStemmer language, or None


def _require_bm25s():
    try:
        import bm25s
    except ImportError:
        raise DataUnavailableError(
            "the bm25s first stage needs bm25s: pip install 'reasonrank[datasets]'"
        ) from None
    return bm25s


def _stemmer(settings: Bm25Settings):
    if settings.stemmer is None:
        return None
    try:
        import Stemmer
    except ImportError:
        raise DataUnavailableError("bm25s stemming needs PyStemmer: pip install 'reasonrank[datasets]'") from None
    return Stemmer.Stemmer(settings.stemmer)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def index_dir(collection: Collection, settings: Bm25Settings, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the index of ``collection``'s corpus with ``settings`` lives."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _digest({"corpus": collection.corpus_key, "settings": asdict(settings), "v": INDEX_VERSION})
    return root / "bm25s" / key


@dataclass
class Bm25Index:
    """A loaded bm25s index and the document id of each of its rows."""

    retriever: Any
    doc_ids: list[str]
    path: Path
    settings: Bm25Settings
    built: bool  # True when this call built it, False when it came from the cache

    def search(self, queries: dict[str, str], depth: int, excluded: dict[str, set[str]] | None = None,
               show_progress: bool = False) -> Run:
        """Top-``depth`` documents per query, scores decreasing; ``excluded`` ids never appear."""
        bm25s = _require_bm25s()
        if not queries:
            return {}
        excluded = excluded or {}
        qids = list(queries)
        extra = max((len(excluded.get(q, ())) for q in qids), default=0)
        k = min(depth + extra, len(self.doc_ids))
        tokens = bm25s.tokenize([queries[q] for q in qids], stopwords=self.settings.stopwords,
                                stemmer=_stemmer(self.settings), show_progress=False)
        rows, scores = self.retriever.retrieve(tokens, k=k, show_progress=show_progress)
        run: Run = {}
        for i, qid in enumerate(qids):
            drop = excluded.get(qid, ())
            # A score of 0 means no query term matched: those rows are arbitrary, not retrieved.
            docs = [(self.doc_ids[r], float(s)) for r, s in zip(rows[i], scores[i]) if s > 0]
            run[qid] = [(d, s) for d, s in docs if d not in drop][:depth]
        return run


def load_or_build(collection: Collection, settings: Bm25Settings = Bm25Settings(),
                  cache_dir: str | os.PathLike[str] | None = None, show_progress: bool = True) -> Bm25Index:
    """The cached index of the collection's corpus, built (and saved) on first use."""
    bm25s = _require_bm25s()
    path = index_dir(collection, settings, cache_dir)
    if (path / "doc_ids.json").is_file():
        retriever = bm25s.BM25.load(str(path), mmap=True)
        saved_ids: list[str] = json.loads((path / "doc_ids.json").read_text())
        return Bm25Index(retriever, saved_ids, path, settings, built=False)
    tokenizer = bm25s.tokenization.Tokenizer(stopwords=settings.stopwords, stemmer=_stemmer(settings))
    doc_ids: list[str] = []

    def texts() -> Iterable[str]:
        for doc in collection.iter_docs():
            doc_ids.append(doc.id)
            yield doc.content()

    from tqdm.auto import tqdm

    ids = [t for t in tqdm(tokenizer.tokenize(texts(), update_vocab=True, return_as="stream"),
                           desc=f"bm25s: tokenize {collection.name}", unit="doc", disable=not show_progress)]
    if not ids:
        raise InvalidInputError(f"{collection.name}: the corpus is empty")
    if len(set(doc_ids)) != len(doc_ids):
        raise InvalidInputError(f"{collection.name}: the corpus repeats document ids")
    retriever = bm25s.BM25(k1=settings.k1, b=settings.b, method=settings.method)
    retriever.index(tokenizer.to_tokenized_tuple(ids), show_progress=show_progress)
    del ids
    # Build in a temporary folder and rename, so an interrupted build never looks finished.
    try:
        with atomic_path(path, directory=True, overwrite=False) as tmp:
            retriever.save(str(tmp))
            (tmp / "doc_ids.json").write_text(json.dumps(doc_ids))
            (tmp / "source.json").write_text(json.dumps(
                {"corpus": collection.corpus_key, "settings": asdict(settings), "num_docs": len(doc_ids)}, indent=2))
    except OSError:
        if not (path / "doc_ids.json").is_file():  # not a concurrent build that won the race
            raise
    return Bm25Index(retriever, doc_ids, path, settings, built=True)


def bm25_run(collection: Collection, depth: int = 100, *, settings: Bm25Settings = Bm25Settings(),
             cache_dir: str | os.PathLike[str] | None = None, show_progress: bool = True,
             ) -> tuple[Run, Path, dict[str, Any]]:
    """BM25 top-``depth`` for the collection's judged queries, excluded ids removed.

    Returns the run, the JSON file it is cached in, and a description for ``metrics.json``.
    """
    if depth < 1:
        raise InvalidInputError(f"first-stage depth must be >= 1, got {depth}")
    queries = {q: t for q, t in collection.queries.items() if collection.qrels.get(q)}
    path = index_dir(collection, settings, cache_dir)
    key = _digest({"queries": queries, "excluded": {q: sorted(v) for q, v in collection.excluded.items()}})
    run_file = path / "runs" / f"bm25s-top{depth}-{key}.json"
    info: dict[str, Any] = {
        "source": "bm25s", "depth": depth, **asdict(settings), "index": str(path),
        "corpus": collection.corpus_key, "run_file": str(run_file),
    }
    if run_file.is_file():
        run = {q: [(d, s) for d, s in docs] for q, docs in json.loads(run_file.read_text()).items()}
        return run, run_file, {**info, "cached": "run", "queries_without_results": sorted(set(queries) - set(run))}
    index = load_or_build(collection, settings, cache_dir, show_progress)
    info["cached"] = "none" if index.built else "index"
    run = index.search(queries, depth, collection.excluded, show_progress=show_progress)
    # A query none of whose terms is in the corpus retrieves nothing: it has no candidates to
    # rerank, so it leaves the run (and, as with trec_eval, is not scored); say which.
    run = {q: docs for q, docs in run.items() if docs}
    write_atomic(run_file, json.dumps(run))
    return run, run_file, {**info, "queries_without_results": sorted(set(queries) - set(run))}
