"""A local model's checksum for the reply cache's key: a file's full SHA-256, a folder's files.

Hashing a multi-GiB weight file takes seconds, so a file is hashed once per version: the digest
is memoised by ``(resolved path, size, mtime_ns)`` in this process and in a small JSON file in
the library's cache folder (``$REASONRANK_CACHE/fingerprints.json``, default
``~/.cache/reasonrank``) that later processes read. The memo file is written atomically (a
temporary file, then ``os.replace``); a corrupt, unreadable or unwritable one is ignored (the
file is then just hashed again), never an error.

The memo trusts ``(size, mtime_ns)``: a file rewritten in place with the same size and
modification time would keep its old digest. File systems stamp times from a coarse clock (a
few ms), so two writes in quick succession can share one; as in git's "racily clean" rule, a
file modified in the last :data:`RACY_NS` is therefore hashed every time and never memoised.
Model files are older than that; a freshly written one costs a rehash until it is not.

A folder (a transformers or vLLM model directory) is fingerprinted by its top-level files
(config, tokenizer, weight shards...): each one's name, size and digest.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from reasonrank.engines.resources import cache_dir
from reasonrank.files import write_atomic

MEMO_NAME = "fingerprints.json"
MEMO_VERSION = 1
RACY_NS = 2_000_000_000  # a file modified this recently (ns) is hashed every time, never memoised
MAX_MEMO_ENTRIES = 4096  # bounded: a stale entry only costs a few bytes, but never grows forever

_memo: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()  # one hasher at a time: two threads never read the same file twice


def memo_path() -> Path:
    """Where digests persist between processes."""
    return cache_dir() / MEMO_NAME


def _entry_key(path: str, size: int, mtime_ns: int) -> str:
    return f"{size}:{mtime_ns}:{path}"


def _load_persisted() -> dict[str, str]:
    """The persisted memo, or an empty one when missing, unreadable or not ours."""
    try:
        data = json.loads(memo_path().read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("version") == MEMO_VERSION else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def _persist(persisted: dict[str, str], path: str, key: str, digest: str) -> None:
    """Add ``key`` to the memo file as just read (``persisted``), dropping other versions of
    ``path``; best effort."""
    files = {k: v for k, v in persisted.items() if k.split(":", 2)[-1] != path}
    files[key] = digest
    while len(files) > MAX_MEMO_ENTRIES:
        del files[next(iter(files))]  # oldest first (insertion order)
    try:  # atomic: a reader sees the old file or the new one
        write_atomic(memo_path(), json.dumps({"version": MEMO_VERSION, "files": files}))
    except OSError:
        pass  # an unwritable cache folder: the next process hashes again


def hash_file(path: Path) -> str:
    """The SHA-256 of ``path``'s bytes, streamed (never the whole file in memory)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _file_digest(path: Path) -> str:
    """``size:sha256`` of a regular file, from the memo when its version was hashed before."""
    resolved = path.resolve()
    st = resolved.stat()
    if time.time_ns() - st.st_mtime_ns < RACY_NS:
        return f"{st.st_size}:{hash_file(resolved)}"  # too fresh to memoise (module docstring)
    triple = (str(resolved), st.st_size, st.st_mtime_ns)
    key = _entry_key(*triple)
    with _lock:
        digest = _memo.get(triple)
        if digest is None:
            persisted = _load_persisted()  # read once: the lookup and the rewrite share it
            digest = persisted.get(key)
            if digest is None:
                digest = f"{st.st_size}:{hash_file(resolved)}"
                _persist(persisted, triple[0], key, digest)
        _memo[triple] = digest
    return digest


def _folder_digest(folder: Path) -> str:
    """A model folder's identity: its top-level files' names, sizes and digests (hidden files,
    e.g. a ``.git`` or ``.cache``, left out; subfolders too: model folders are flat)."""
    files = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())
    parts = [[p.name, _file_digest(p)] for p in files]
    return f"dir:{len(parts)}:{hashlib.sha256(json.dumps(parts).encode()).hexdigest()}"


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """A local model's identity: a file's ``size:sha256``, a folder's digest over its files, or
    the path itself when nothing is there (see the module docstring)."""
    p = Path(path).expanduser()
    try:
        if p.is_dir():
            return _folder_digest(p)
        if p.is_file():
            return _file_digest(p)
    except OSError:
        pass  # unreadable: the path alone (it still names the model)
    return str(p)


__all__ = ["MEMO_NAME", "file_fingerprint", "hash_file", "memo_path"]
