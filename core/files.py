"""Atomic writes: every file and folder the library writes goes through here, so a reader (or a
crash, or an exception half-way) never leaves or sees half a file.

The new content is written to a temporary path in the target's own folder (the same file
system, so the final rename is atomic), then moved over the target with ``os.replace``. If
anything fails before that, the temporary path is removed and the old target is untouched.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

PathLike = str | os.PathLike[str]


def _temporary(target: Path) -> Path:
    # Hidden, beside the target, unique per process and call; created by the caller with its
    # usual mode (unlike mkstemp's private 0600), so the result has the mode a plain write gives.
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(target: PathLike, *, directory: bool = False, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path beside ``target`` to write the new content to; on a clean exit it
    replaces ``target``, on an exception it is removed and ``target`` is left as it was.

    ``directory``: the path is a new, empty folder (a model, an index, a checkpoint). A folder
    that exists is replaced when ``overwrite`` (moved aside first: ``os.replace`` cannot replace
    a non-empty folder); with ``overwrite=False`` the first writer wins and this one's folder is
    dropped (concurrent builders of the same content).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if directory:
            _replace_folder(tmp, target, overwrite)
        elif overwrite or not target.exists():
            os.replace(tmp, target)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def _replace_folder(tmp: Path, target: Path, overwrite: bool) -> None:
    if not target.exists():
        try:
            os.replace(tmp, target)
            return
        except OSError:
            if not target.exists():  # not a concurrent writer that got there first
                raise
    if not overwrite:
        return
    old = _temporary(target)
    os.replace(target, old)  # a crash here leaves neither: the caller's rebuild starts afresh
    os.replace(tmp, target)
    _remove(old)


def write_atomic(path: PathLike, data: str | bytes | Iterable[str | bytes], *, fsync: bool = False,
                 encoding: str = "utf-8") -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`): text (encoded with
    ``encoding``), bytes, or an iterable of either written piece by piece (a large file never
    whole in memory). ``fsync``: flush it to disk before the rename (a file that must survive a
    power cut)."""
    pieces = [data] if isinstance(data, str | bytes) else data
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        fh.writelines(piece.encode(encoding) if isinstance(piece, str) else piece for piece in pieces)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())


__all__ = ["atomic_path", "write_atomic"]
