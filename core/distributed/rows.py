"""Input rows of a distributed rerank: one query with its candidates per row.

Three sources, all giving the same row shape ``{query_id, query, candidates: [{id, text,
title?, score?}]}``:

* a dataset folder, BEIR folder or benchmark name (``dl19``, ``beir/scifact``...) as ``reasonrank
  eval`` reads it (:func:`reasonrank.datasets.load_dataset`),
* a JSONL file, one row per line,
* a Parquet file with the columns ``query_id``, ``query`` and ``candidates``.

The driver validates every row before any model loads (:func:`scan_input`), so a bad row fails
the command with a ``FILE:LINE`` message and exit code 2, as in ``reasonrank eval``; the actors
parse rows again with the same function (:func:`parse_row`).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonrank.data import json_lines
from reasonrank.deprecation import renamed_keyword
from reasonrank.errors import InvalidInputError
from reasonrank.inputs import coerce_candidates
from reasonrank.types import Candidate, Query

PARQUET_SUFFIXES = (".parquet", ".pq")
FILE_SUFFIXES = (".jsonl", ".json", ".ndjson", *PARQUET_SUFFIXES)


def parse_row(obj: Any, where: str) -> tuple[Query, list[Candidate]]:
    """A validated (query, candidates) pair from one input row; errors name ``where``."""
    if not isinstance(obj, Mapping):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    qid = obj.get("query_id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise InvalidInputError(f"{where}: missing or invalid 'query_id'")
    qid = str(qid).strip()
    text = obj.get("query")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{where}: query {qid!r} has no 'query' text")
    cands = obj.get("candidates")
    if not isinstance(cands, (list, tuple)):
        raise InvalidInputError(f"{where}: query {qid!r}: 'candidates' must be a list")
    try:
        candidates = coerce_candidates(cands)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: query {qid!r}: {exc}") from None
    return Query(text.strip(), id=qid), candidates


def row_of(query: Query, candidates: list[Candidate]) -> dict[str, Any]:
    """The JSON row of a (query, candidates) pair (the JSONL input format)."""
    return {
        "query_id": query.id,
        "query": query.text,
        "candidates": [
            {k: v for k, v in (("id", c.id), ("text", c.text), ("title", c.title), ("score", c.score))
             if v is not None}
            for c in candidates
        ],
    }


@dataclass
class InputSource:
    """What :func:`scan_input` found: the kind of input, its validated query ids in input order,
    and (for dataset folders, which are read whole anyway) the rows themselves."""

    kind: str  # "dataset", "jsonl" or "parquet"
    path: Path
    query_ids: list[str]
    rows: list[dict[str, Any]] | None = None


def _check_unique(qid: str, where: str, first: dict[str, str]) -> None:
    if qid in first:
        raise InvalidInputError(f"{where}: query id {qid!r} appears twice (first at {first[qid]})")
    first[qid] = where


def _scan_jsonl(path: Path) -> Iterator[tuple[str, str]]:
    for n, obj in json_lines(path):
        where = f"{path}:{n}"
        query, _ = parse_row(obj, where)
        yield query.id or "", where


def _scan_parquet(path: Path, batch_rows: int = 1024) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidInputError(f"{path}: not a Parquet file ({exc})") from None
    missing = {"query_id", "query", "candidates"} - set(file.schema_arrow.names)
    if missing:
        raise InvalidInputError(f"{path}: missing columns {sorted(missing)}")
    n = 0
    for batch in file.iter_batches(batch_size=batch_rows, columns=["query_id", "query", "candidates"]):
        for obj in batch.to_pylist():
            n += 1
            where = f"{path}: row {n}"
            query, _ = parse_row(obj, where)
            yield query.id or "", where


def scan_input(
    source: str | Path,
    *,
    run: str | Path | None = None,
    candidates_per_query: int | None = None,
    limit_queries: int | None = None,
    **deprecated: Any,
) -> InputSource:
    """Validate every row of ``source`` (folder or benchmark name, ``.jsonl`` or ``.parquet``)
    on the driver.

    For a dataset folder (or name) the rows are every query of the first-stage run (judged or
    not) with its first-stage top ``candidates_per_query`` (default 100); a file's rows are kept whole. ``limit_queries`` keeps the first N rows. Raises
    :class:`InvalidInputError` (or ``FileNotFoundError``) naming the bad file and line.
    ``top_k`` is the deprecated name of ``candidates_per_query``.
    """
    candidates_per_query = renamed_keyword(deprecated, "top_k", "candidates_per_query", candidates_per_query,
                                           where="scan_input: ")
    path = Path(source)
    if not path.is_file() and path.suffix.lower() not in FILE_SUFFIXES:
        # a folder or a benchmark name, exactly as `reasonrank eval` reads it
        from reasonrank.datasets import load_dataset

        dataset = load_dataset(source, run=run, depth=max(100, candidates_per_query or 100), show_progress=False)
        qids = dataset.query_ids(limit_queries, judged_only=False)
        if not qids:
            raise InvalidInputError(f"{path}: the first-stage run has no queries")
        rows = []
        for qid in qids:
            item = dataset.item(qid, candidates_per_query or 100)
            rows.append(row_of(item.query, item.candidates))
        return InputSource("dataset", path, qids, rows)
    if not path.is_file():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if run is not None:
        raise InvalidInputError("--run applies to a dataset folder only")
    kind = "parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "jsonl"
    scan = _scan_parquet(path) if kind == "parquet" else _scan_jsonl(path)
    first: dict[str, str] = {}
    for qid, where in scan:
        _check_unique(qid, where, first)
        if limit_queries is not None and len(first) >= limit_queries:
            break
    if not first:
        raise InvalidInputError(f"{path}: no rows")
    return InputSource(kind, path, list(first))


def rows_as_json_lines(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rows as ``{"text": json}`` items, the shape Ray Data's ``read_text`` gives JSONL lines."""
    return [{"text": json.dumps(r, ensure_ascii=False)} for r in rows]


__all__ = ["PARQUET_SUFFIXES", "InputSource", "parse_row", "row_of", "rows_as_json_lines", "scan_input"]
