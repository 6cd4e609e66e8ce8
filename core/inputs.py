"""User input to :class:`Query` and :class:`Candidate`: the one place that does it.

Every entry point hands its documents here — the Python API (``Reranker.rerank``), the CLI's
JSONL files, data loading (BEIR corpora), Ray rows and the HTTP service — so the same input
means the same candidate everywhere. A candidate may be given as

* a :class:`Candidate`;
* a string (its text; its id is its position);
* a mapping with ``id`` (or ``_id``/``docid``), ``text``, optional ``title``, ``score`` and
  ``metadata``; other keys land in ``metadata``.

Errors are :class:`InvalidInputError` naming where the bad input is (``FILE:LINE``, a position,
``documents.3``).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError
from reasonrank.types import Candidate, Query

CandidateInput = Candidate | str | Mapping[str, Any]
QueryInput = Query | str
ID_KEYS = ("id", "_id", "docid")
_KNOWN_KEYS = frozenset({*ID_KEYS, "text", "title", "score", "metadata"})
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def coerce_query(query: QueryInput) -> Query:
    """A :class:`Query` from a string or a Query; empty text is an error."""
    if isinstance(query, str):
        query = Query(text=query)
    if not isinstance(query, Query):
        raise InvalidInputError(f"query must be a str or Query, got {type(query).__name__}")
    if not isinstance(query.text, str) or not query.text.strip():
        raise InvalidInputError("query text is empty")
    return query


def _fail(where: str | None, detail: str) -> InvalidInputError:
    return InvalidInputError(f"{where}: {detail}" if where else detail)


def _candidate_id(item: Mapping[str, Any], position: int, where: str | None, id_keys: tuple[str, ...]) -> str:
    value = next((item[k] for k in id_keys if item.get(k) is not None), None)
    if value is None:
        if where:
            raise _fail(where, f"object has no {id_keys[0]!r}")
        raise InvalidInputError(f"candidate at position {position} has no {id_keys[0]!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise _fail(where or f"candidate at position {position}", f"invalid {id_keys[0]!r}: {value!r}")
    return str(value)


def structured_text(doc: Mapping[str, Any], where: str) -> str:
    """An object without ``text`` as ``key: value`` lines (Cohere: structured data as YAML)."""
    lines = [f"{k}: {v}" for k, v in doc.items() if k != "title" and isinstance(v, (str, int, float))]
    if not lines:
        raise _fail(where, "an object document needs a 'text' string")
    return "\n".join(lines)


def _from_document(item: Mapping[str, Any], cid: str, where: str | None) -> Candidate:
    """An API document object: ``text`` (or its other fields as lines) and ``title``; every
    other field is the caller's data (a ``score`` key there is not a first-stage score)."""
    text = item.get("text")
    if "text" not in item:
        text = structured_text(item, where or cid)
    elif not isinstance(text, str):
        raise _fail(where, "'text' must be a string")
    title = item.get("title")
    extra = {k: v for k, v in item.items() if k not in ("text", "title")}
    return Candidate(id=cid, text=text, title=title if isinstance(title, str) and title else None, metadata=extra)


def _from_mapping(item: Mapping[str, Any], cid: str, where: str | None) -> Candidate:
    title = item.get("title")
    if title is not None and not isinstance(title, str):
        raise _fail(where or f"candidate {cid!r}", "'title' must be a string")
    score = item.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise _fail(where or f"candidate {cid!r}", f"'score' must be a number, got {score!r}")
    given = item.get("metadata")
    # A non-object "metadata" (some corpora have one) is kept as a value, not refused.
    metadata = dict(given) if isinstance(given, Mapping) else ({} if given is None else {"metadata": given})
    extra = {k: v for k, v in item.items() if k not in _KNOWN_KEYS}
    return Candidate(id=cid, text=item.get("text"), title=title or None,  # type: ignore[arg-type]
                     score=float(score) if score is not None else None, metadata={**metadata, **extra})


def coerce_candidate(
    item: CandidateInput,
    position: int,
    *,
    where: str | None = None,
    positional_id: bool = False,
    structured: bool = False,
    id_keys: tuple[str, ...] = ID_KEYS,
) -> Candidate:
    """A validated :class:`Candidate` from any accepted input (see the module doc).

    ``position`` is the item's place in its list (a string's id); ``where`` names the input in
    errors (``FILE:LINE``). ``positional_id`` ignores given ids (an API whose results name
    documents by index); ``structured`` reads an object as an API document: ``text`` and
    ``title``, or without ``text`` its fields as ``key: value`` lines, other keys as metadata. ``id_keys`` are the keys an id is read from, the first one named in errors.
    """
    if isinstance(item, Candidate):
        cand = replace(item, id=str(position)) if positional_id else item
    elif isinstance(item, str):
        cand = Candidate(id=str(position), text=item)
    elif isinstance(item, Mapping):
        cid = str(position) if positional_id else _candidate_id(item, position, where, id_keys)
        cand = _from_document(item, cid, where) if structured else _from_mapping(item, cid, where)
    else:
        raise InvalidInputError(f"{where or f'candidate at position {position}'} must be a string, "
                                f"a Candidate or a mapping, got {type(item).__name__}")
    if not isinstance(cand.id, str) or not cand.id:
        raise _fail(where or f"candidate at position {position}", "empty or non-string id")
    if not isinstance(cand.text, str):
        raise _fail(where, f"candidate {cand.id!r} has no text (got {type(cand.text).__name__})")
    if _SURROGATE.search(cand.text) or (cand.title and _SURROGATE.search(cand.title)):
        # Lone surrogates (broken UTF-16 from scraped text) cannot be encoded or tokenized.
        cand = replace(cand, text=_SURROGATE.sub("\ufffd", cand.text),
                       title=_SURROGATE.sub("\ufffd", cand.title) if cand.title else cand.title)
    return cand


def coerce_candidates(items: Iterable[CandidateInput], **options: Any) -> list[Candidate]:
    """Validated candidates: at least one, unique ids, text present (options as
    :func:`coerce_candidate`)."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InvalidInputError("candidates must be a list of Candidate objects, strings or mappings")
    cands = [coerce_candidate(item, i, **options) for i, item in enumerate(items)]
    if not cands:
        raise InvalidInputError("no candidates to rerank")
    seen: set[str] = set()
    dupes = [c.id for c in cands if c.id in seen or seen.add(c.id)]  # type: ignore[func-returns-value]
    if dupes:
        raise InvalidInputError(f"duplicate candidate ids: {sorted(set(dupes))[:5]}")
    return cands


def iter_candidates_jsonl(path: str | os.PathLike[str], *, id_keys: tuple[str, ...] = ID_KEYS) -> Iterator[tuple[int, Candidate]]:
    """(line number, candidate) for each line of a JSONL file (``-``: standard input), errors
    naming ``FILE:LINE``."""
    from reasonrank.data import display_name, json_lines

    name = display_name(path)
    for n, obj in json_lines(path):
        yield n, coerce_candidate(obj, n - 1, where=f"{name}:{n}", id_keys=id_keys)


def read_candidates_jsonl(path: str | os.PathLike[str]) -> list[Candidate]:
    """The candidates of a JSONL file (one object per line, unique ids; the CLI's ``--docs``);
    ``-`` reads them from standard input."""
    from reasonrank.data import STDIN, display_name

    if str(path) != STDIN:
        path = Path(path)
        if not path.exists():
            raise InvalidInputError(f"{path}: no such file")
        if path.is_dir():
            raise InvalidInputError(f"{path}: is a directory, expected a JSONL file")
    name = display_name(path)
    docs: list[Candidate] = []
    first_line: dict[str, int] = {}
    for n, cand in iter_candidates_jsonl(path, id_keys=("id",)):
        if cand.id in first_line:
            raise InvalidInputError(f"{name}:{n}: duplicate id {cand.id!r} (first on line {first_line[cand.id]})")
        first_line[cand.id] = n
        docs.append(cand)
    if not docs:
        raise InvalidInputError(f"{name}: no documents")
    return docs


__all__ = [
    "CandidateInput",
    "QueryInput",
    "coerce_candidate",
    "coerce_candidates",
    "coerce_query",
    "iter_candidates_jsonl",
    "read_candidates_jsonl",
    "structured_text",
]
