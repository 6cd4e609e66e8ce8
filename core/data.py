"""Readers and writers for IR evaluation data: TREC runs and qrels, queries (TSV or BEIR JSONL),
BEIR corpora, and the two folder layouts reasonrank evaluates on.

Dataset folder (the layout of reasonrank's bundled evaluation data, also used for BRIGHT)::

    queries.tsv      qid<TAB>query text
    qrels.txt        TREC qrels: qid 0 docid relevance
    run.bm25.trec    TREC run of the first stage: qid Q0 docid rank score tag
    corpus.jsonl     {"_id", "title", "text"} for every passage in the run

BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` (``_id``/``text``), ``qrels/test.tsv``
(``query-id corpus-id score`` with a header line) and a first-stage run (``run*.trec``, which
BEIR itself does not ship: give one with ``run=``).

Malformed input raises :class:`~reasonrank.errors.InvalidInputError` naming ``FILE:LINE``.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError
from reasonrank.files import write_atomic
from reasonrank.inputs import iter_candidates_jsonl
from reasonrank.types import Candidate, Query

# qid -> docid -> relevance
Qrels = dict[str, dict[str, int]]
# qid -> [(docid, score)] in rank order
Run = dict[str, list[tuple[str, float]]]

PathLike = str | os.PathLike[str]
#: The path that means standard input (``reasonrank rerank --docs -``), and how messages name it.
STDIN, STDIN_NAME = "-", "<stdin>"


def _bad(path: PathLike, line_no: int, message: str) -> InvalidInputError:
    return InvalidInputError(f"{path}:{line_no}: {message}")


def _lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without newline) for non-blank lines of a UTF-8 file, or of
    standard input when ``path`` is ``-``."""
    if str(path) == STDIN:
        yield from _numbered(sys.stdin, STDIN_NAME)
        return
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    with p.open(encoding="utf-8") as fh:
        yield from _numbered(fh, p)


def _numbered(fh: Iterable[str], path: PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without newline) for the non-blank lines of ``fh``."""
    n = 0
    try:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield n, line
    except UnicodeDecodeError as exc:
        raise _bad(path, n + 1, f"not UTF-8 text ({exc.reason})") from None


def display_name(path: PathLike) -> str:
    """How messages name ``path``: ``<stdin>`` for ``-``, else the path as given."""
    return STDIN_NAME if str(path) == STDIN else str(path)


# -- TREC runs -------------------------------------------------------------------------------
def read_trec_run(path: PathLike) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``).

    Each query's list is returned in rank order (the rank column; file order breaks ties).
    A docid repeated within a query is an error, as trec_eval would silently mis-score it.
    """
    rows: dict[str, list[tuple[int, int, str, float]]] = {}
    seen: dict[str, set[str]] = {}
    for n, line in _lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise _bad(path, n, f"expected 6 fields 'qid Q0 docid rank score tag', got {len(parts)}")
        qid, _, docid, rank, score, _tag = parts
        try:
            rank_i = int(rank)
        except ValueError:
            raise _bad(path, n, f"rank {rank!r} is not an integer") from None
        try:
            score_f = float(score)
        except ValueError:
            raise _bad(path, n, f"score {score!r} is not a number") from None
        if docid in seen.setdefault(qid, set()):
            raise _bad(path, n, f"docid {docid!r} appears twice for query {qid!r}")
        seen[qid].add(docid)
        rows.setdefault(qid, []).append((rank_i, n, docid, score_f))
    return {qid: [(d, s) for _, _, d, s in sorted(items)] for qid, items in rows.items()}


def write_trec_run(path: PathLike, run: Mapping[str, Sequence[tuple[str, float]]], tag: str = "reasonrank") -> None:
    """Write a TREC run atomically (temp file + rename), ranks from 1 in list order.

    Scores are written as given; callers that reorder lists must give strictly decreasing
    scores, because trec_eval ranks by score, not by the rank column.
    """
    if not tag or any(c.isspace() for c in tag):
        raise InvalidInputError(f"run tag must be one word, got {tag!r}")
    lines = (f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n"
             for qid, docs in run.items() for rank, (docid, score) in enumerate(docs, start=1))
    write_atomic(path, lines, fsync=True)


# -- qrels -----------------------------------------------------------------------------------
def read_trec_qrels(path: PathLike) -> Qrels:
    """Read TREC qrels (``qid iteration docid relevance``), relevance an integer."""
    qrels: Qrels = {}
    for n, line in _lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise _bad(path, n, f"expected 4 fields 'qid 0 docid relevance', got {len(parts)}")
        qid, _, docid, rel = parts
        try:
            qrels.setdefault(qid, {})[docid] = int(rel)
        except ValueError:
            raise _bad(path, n, f"relevance {rel!r} is not an integer") from None
    return qrels


def read_beir_qrels(path: PathLike) -> Qrels:
    """Read BEIR qrels TSV (``query-id<TAB>corpus-id<TAB>score``, optional header line)."""
    qrels: Qrels = {}
    for n, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 3:
            raise _bad(path, n, f"expected 3 tab-separated fields, got {len(parts)}")
        qid, docid, rel = (x.strip() for x in parts)
        if n == 1 and not rel.lstrip("-").isdigit():
            continue  # the header line "query-id corpus-id score"
        try:
            qrels.setdefault(qid, {})[docid] = int(rel)
        except ValueError:
            raise _bad(path, n, f"relevance {rel!r} is not an integer") from None
    return qrels


# -- queries ---------------------------------------------------------------------------------
def read_queries_tsv(path: PathLike) -> dict[str, str]:
    """Read ``qid<TAB>text`` lines; an empty text or a repeated qid is an error."""
    queries: dict[str, str] = {}
    for n, line in _lines(path):
        qid, sep, text = line.partition("\t")
        if not sep or not qid.strip() or not text.strip():
            raise _bad(path, n, "expected 'qid<TAB>query text'")
        qid = qid.strip()
        if qid in queries:
            raise _bad(path, n, f"query id {qid!r} appears twice")
        queries[qid] = text.strip()
    return queries


def json_lines(path: PathLike) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) for each non-blank line of a JSONL file; a line that is
    not a JSON object raises :class:`InvalidInputError` naming ``FILE:LINE``."""
    for n, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(display_name(path), n, f"invalid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise _bad(display_name(path), n, "expected a JSON object")
        yield n, obj


_ID_KEYS = ("_id", "id", "docid")  # BEIR's key first


def _get_id(path: PathLike, n: int, obj: dict) -> str:
    value = next((obj[k] for k in _ID_KEYS if obj.get(k) is not None), None)
    if value is None or str(value) == "":
        raise _bad(path, n, "object has no '_id'")
    return str(value)


def read_queries_jsonl(path: PathLike) -> dict[str, str]:
    """Read BEIR queries (``{"_id", "text"}`` per line)."""
    queries: dict[str, str] = {}
    for n, obj in json_lines(path):
        qid = _get_id(path, n, obj)
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad(path, n, f"query {qid!r} has no 'text'")
        queries[qid] = text.strip()
    return queries


# -- corpus ----------------------------------------------------------------------------------
def iter_corpus_jsonl(path: PathLike) -> Iterator[Candidate]:
    """Stream a BEIR corpus (``{"_id", "title", "text"}`` per line) as Candidates, in file order."""
    for _, cand in iter_candidates_jsonl(path, id_keys=_ID_KEYS):
        yield cand


def read_corpus_jsonl(path: PathLike, ids: set[str] | None = None) -> dict[str, Candidate]:
    """Read a BEIR corpus (``{"_id", "title", "text"}``) as Candidates, keyed by id.

    ``ids`` keeps only those documents (a BRIGHT corpus is large; the run needs few of them).
    """
    return {d.id: d for d in iter_corpus_jsonl(path) if ids is None or d.id in ids}


def write_corpus_jsonl(path: PathLike, docs: Sequence[Candidate]) -> None:
    """Write Candidates as a BEIR corpus."""
    with Path(path).open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"_id": d.id, "title": d.title or "", "text": d.text}, ensure_ascii=False) + "\n" for d in docs)


# -- datasets --------------------------------------------------------------------------------
@dataclass
class EvalItem:
    """One query to rerank: its first-stage candidates (rank order) and its judgments."""

    query: Query
    candidates: list[Candidate]
    qrels: dict[str, int] = field(default_factory=dict)


@dataclass
class Dataset:
    """Queries, judgments, a first-stage run and the passages the run points at."""

    name: str
    queries: dict[str, str]
    qrels: Qrels
    run: Run
    corpus: dict[str, Candidate]
    run_path: Path | None = None
    # Where the run came from ({"source": "file"|"bm25s", ...}); recorded in metrics.json.
    first_stage: dict[str, Any] | None = None

    @classmethod
    def load(cls, folder: PathLike, run: PathLike | None = None) -> Dataset:
        """Load a dataset folder or a BEIR folder (detected by its files).

        ``run`` is the first-stage run file (default: ``run.bm25.trec``, else the only
        ``*.trec`` file in the folder). Relative paths are taken inside the folder.
        """
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {root}")
        queries, qrels = read_folder_queries(root), read_folder_qrels(root)
        run_path = _find_run(root, run)
        first_stage = read_trec_run(run_path)
        corpus_path = root / "corpus.jsonl"
        if not corpus_path.is_file():
            raise InvalidInputError(f"{root}: no corpus.jsonl")
        wanted = {d for docs in first_stage.values() for d, _ in docs}
        corpus = read_corpus_jsonl(corpus_path, ids=wanted)
        missing = wanted - corpus.keys()
        if missing:
            raise InvalidInputError(
                f"{run_path}: {len(missing)} docids are not in {corpus_path}, e.g. {sorted(missing)[:3]}"
            )
        unknown = sorted(set(first_stage) - queries.keys())
        if unknown:
            raise InvalidInputError(f"{run_path}: queries {unknown[:3]} are not in the queries file")
        return cls(root.name, queries, qrels, first_stage, corpus, run_path,
                   {"source": "file", "path": str(run_path)})

    def query_ids(self, limit: int | None = None, judged_only: bool = True) -> list[str]:
        """Run query ids in run-file order; only judged ones unless ``judged_only=False``."""
        ids = [q for q in self.run if not judged_only or self.qrels.get(q)]
        return ids[:limit] if limit is not None else ids

    def item(self, qid: str, top_k: int | None = None) -> EvalItem:
        """The query ``qid`` with its first-stage top-``top_k`` candidates (all if None)."""
        docs = self.run[qid][:top_k] if top_k else self.run[qid]
        cands = [_with_score(self.corpus[d], s) for d, s in docs]
        return EvalItem(Query(self.queries[qid], id=qid), cands, dict(self.qrels.get(qid, {})))

    def items(self, top_k: int | None = None, limit: int | None = None) -> Iterator[EvalItem]:
        """Per judged query (run order): the query and its first-stage top-``top_k``."""
        for qid in self.query_ids(limit):
            yield self.item(qid, top_k)

    def __len__(self) -> int:
        return len(self.query_ids())


def read_folder_queries(root: Path) -> dict[str, str]:
    """The queries of a dataset folder (``queries.tsv``) or a BEIR folder (``queries.jsonl``)."""
    if (root / "queries.tsv").is_file():
        return read_queries_tsv(root / "queries.tsv")
    if (root / "queries.jsonl").is_file():
        return read_queries_jsonl(root / "queries.jsonl")
    raise InvalidInputError(f"{root}: no queries.tsv or queries.jsonl")


def read_folder_qrels(root: Path) -> Qrels:
    """The judgments of a dataset folder (``qrels.txt``) or a BEIR folder (``qrels/test.tsv``)."""
    if (root / "qrels.txt").is_file():
        return read_trec_qrels(root / "qrels.txt")
    if (root / "qrels" / "test.tsv").is_file():
        return read_beir_qrels(root / "qrels" / "test.tsv")
    raise InvalidInputError(f"{root}: no qrels.txt or qrels/test.tsv")


def _with_score(doc: Candidate, score: float) -> Candidate:
    return Candidate(id=doc.id, text=doc.text, title=doc.title, score=score)


def _find_run(root: Path, run: PathLike | None) -> Path:
    if run is not None:
        p = Path(run)
        p = p if p.is_absolute() or p.exists() else root / p
        if not p.is_file():
            raise FileNotFoundError(f"first-stage run not found: {p}")
        return p
    if (root / "run.bm25.trec").is_file():
        return root / "run.bm25.trec"
    runs = sorted(root.glob("*.trec"))
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise InvalidInputError(f"{root}: no first-stage run (*.trec); pass one with --run")
    raise InvalidInputError(f"{root}: several runs {[r.name for r in runs]}; choose one with --run")


__all__ = [
    "Dataset",
    "EvalItem",
    "Qrels",
    "Run",
    "iter_corpus_jsonl",
    "json_lines",
    "read_beir_qrels",
    "read_corpus_jsonl",
    "read_folder_qrels",
    "read_folder_queries",
    "read_queries_jsonl",
    "read_queries_tsv",
    "read_trec_qrels",
    "read_trec_run",
    "write_corpus_jsonl",
    "write_trec_run",
]
