"""Per-passage prompt work done once per passage per run, not once per window or set.

A listwise run over top-100 shows each passage in two windows, a setwise tournament in several
sets; cleaning (ftfy), token truncation and label escaping give the same text every time. A run
opens a memo (:func:`passage_memo`), fills it up front with one batched, concurrent truncation
of every passage (:func:`aprefetch` / :func:`prefetch`: a served engine tokenizes them on its
server concurrently, never one blocking round trip per passage inside the event loop), and the
method's ``passage_content`` reads it (:func:`memoized`). The memo is a context variable: runs of
the same reranker in parallel (a server's requests) keep theirs apart, and it is dropped when
the run ends, so a long-lived process does not grow.

:func:`fix_text_fast` is ``ftfy.fix_text`` with a shortcut for the lines ftfy cannot change.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextvars import ContextVar

from ftfy import fix_text
from reasonrank.engines.base import Engine
from reasonrank.errors import EngineError
from reasonrank.lru import LRUCache

_MEMO: ContextVar[dict[Hashable, str] | None] = ContextVar("reasonrank_passage_memo", default=None)


@contextlib.contextmanager
def passage_memo() -> Iterator[dict[Hashable, str]]:
    """Open the memo of one run (nested runs share the outer one)."""
    memo = _MEMO.get()
    if memo is not None:
        yield memo
        return
    memo = {}
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


def memoized(key: Hashable, compute: Callable[[], str]) -> str:
    """``compute()`` once per ``key`` in the current run (every time outside a run)."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    value = memo.get(key)
    if value is None:
        value = memo[key] = compute()
    return value


def _missing(texts: Mapping[Hashable, str]) -> dict[Hashable, str]:
    memo = _MEMO.get()
    if memo is None:
        raise RuntimeError("internal error: prefetch outside passage_memo()")
    return {k: t for k, t in texts.items() if k not in memo}


def _store(keys: list[Hashable], cut: list[str], finish: Callable[[str], str]) -> None:
    memo = _MEMO.get()
    assert memo is not None
    if len(cut) != len(keys):
        raise RuntimeError(f"internal error: {len(cut)} truncations for {len(keys)} passages")
    for key, text in zip(keys, cut):
        memo[key] = finish(text)


async def aprefetch(
    engine: Engine, texts: Mapping[Hashable, str], max_tokens: int, finish: Callable[[str], str] = str
) -> None:
    """Truncate every not yet memoized text in one batched call; memoize ``finish(cut)``."""
    todo = _missing(texts)
    if todo:
        _store(list(todo), await engine.atruncate_many(list(todo.values()), max_tokens), finish)


def prefetch(
    engine: Engine, texts: Mapping[Hashable, str], max_tokens: int, finish: Callable[[str], str] = str
) -> None:
    """Sync :func:`aprefetch` (for the batched schedule of sync engines)."""
    todo = _missing(texts)
    if todo:
        _store(list(todo), engine.truncate_many(list(todo.values()), max_tokens), finish)


# ASCII characters some ftfy step rewrites: HTML entities (&), terminal escapes (ESC), line
# breaks (\r) and control characters. An ASCII line without them passes every step unchanged
# (the others only touch non-ASCII text; NFC leaves ASCII alone).
_ASCII_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f&]")
_MAX_SEGMENT = 1_000_000  # ftfy's max_decode_length: longer lines are cut differently
_LABEL = re.compile(r"\[\d+\] ")
# Non-ASCII lines ftfy left unchanged, keyed without their window label ("[7] "): a passage's
# line in its next window differs only by the label's digits, which no ftfy step reads (checked
# on all 883 non-ASCII DL19 top-100 passages under labels 1-20; tests/engines/test_served_path.py
# checks labelled and unlabelled lines against ftfy). A labelled line never answers for a bare one:
# ftfy reads a line's start.
_STABLE: LRUCache[tuple[str, bool, bool], bool] = LRUCache(16384)


def fix_text_fast(text: str) -> str:
    """``ftfy.fix_text(text)``, with ftfy run only on the lines it could change.

    ftfy fixes a text line by line, and the only state carried from line to line is that HTML
    unescaping stops for good at the first line containing ``<`` (``fix_text`` in ftfy 6). A
    window prompt is ~20 long lines: plain ASCII ones are kept as they are (exact), and a
    non-ASCII passage line that ftfy left unchanged once is not fixed again in later windows.
    """
    if len(text) > _MAX_SEGMENT:
        return fix_text(text)
    out: list[str] = []
    unescape = True
    pos = 0
    n = len(text)
    while pos < n:
        brk = text.find("\n", pos) + 1 or n
        segment = text[pos:brk]
        if unescape and "<" in segment:
            unescape = False
        if segment.isascii() and not _ASCII_UNSAFE.search(segment):
            out.append(segment)
        else:
            label = _LABEL.match(segment)
            key = (segment[label.end():], unescape, True) if label else (segment, unescape, False)
            if _STABLE.get(key):
                out.append(segment)
            else:
                fixed = fix_text(segment) if unescape else fix_text(segment, unescape_html=False)
                if fixed == segment:
                    _STABLE.put(key, True)
                out.append(fixed)
        pos = brk
    return "".join(out)


# -- plain token cuts (pointwise, setwise, REBEL) ---------------------------------------------
def _cut_key(engine: Engine, text: str, max_tokens: int) -> tuple[Hashable, ...]:
    return ("cut", text, max_tokens, id(engine))


def cut_passage(engine: Engine, text: str, max_tokens: int) -> str:
    """``engine.truncate_tokens(text, max_tokens)``, once per run for each distinct text."""
    return memoized(_cut_key(engine, text, max_tokens), lambda: engine.truncate_tokens(text, max_tokens))


def prefetch_cuts(engine: Engine, texts: Iterable[str], max_tokens: int, *, swallow: bool = False) -> None:
    """Cut every text in one batched engine call, ahead of the requests that use them. With
    ``swallow`` an engine failure is left to the requests (where the ``on_error`` policy is)."""
    try:
        prefetch(engine, {_cut_key(engine, t, max_tokens): t for t in texts}, max_tokens)
    except EngineError:
        if not swallow:
            raise


async def aprefetch_cuts(engine: Engine, texts: Iterable[str], max_tokens: int, *, swallow: bool = False) -> None:
    """Async :func:`prefetch_cuts` (a served engine tokenizes them concurrently)."""
    try:
        await aprefetch(engine, {_cut_key(engine, t, max_tokens): t for t in texts}, max_tokens)
    except EngineError:
        if not swallow:
            raise
