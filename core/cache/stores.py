"""Where the reply cache keeps its replies: an in-memory LRU, and an on-disk store that
several processes can share.

The disk store is one SQLite file in WAL mode (``DIR/cache.sqlite``): SQLite serialises
concurrent writers across processes, WAL lets readers go on while one writes. The folder is
created ``0700`` and the files ``0600`` (cached prompts hold users' documents). Its size is
bounded: past ``max_entries`` the least recently used rows go. Any SQLite error on read (a
corrupt or truncated file) warns once and counts as a miss; on write it warns and is dropped,
so a broken store never crashes a rerank nor serves a wrong answer.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from reasonrank.errors import InvalidInputError
from reasonrank.lru import LRUCache

logger = logging.getLogger("reasonrank.cache")

DB_NAME = "cache.sqlite"


class Store(Protocol):
    """A key-value store of serialised replies (``bytes``)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


class MemoryStore(LRUCache[str, bytes]):
    """A thread-safe LRU of at most ``max_entries`` replies."""

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise InvalidInputError(f"cache size must be >= 1, got {max_entries}")
        super().__init__(max_entries)

    @property
    def max_entries(self) -> int:
        """The bound (the LRU's ``maxsize``)."""
        return self.maxsize


def prepare_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` created owner-only and checked writable: an :class:`InvalidInputError` naming
    it otherwise (before any engine call)."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInputError(f"cache folder {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    return path


class DiskStore:
    """The shared on-disk store (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike[str], max_entries: int = 100_000) -> None:
        self.folder = prepare_folder(folder)
        self.path = self.folder / DB_NAME
        self.max_entries = max_entries
        self._local = threading.local()  # one connection per thread (sqlite3's rule)
        self._warned = False
        self._puts = 0
        self._connect()  # create the table now: an unusable file warns here, once

    def _connect(self) -> sqlite3.Connection | None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        old = os.umask(0o077)  # the database and its -wal/-shm files: owner-only
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value BLOB, used REAL)")
        except sqlite3.Error as exc:
            self._warn(exc)
            return None
        finally:
            os.umask(old)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.chmod(f"{self.path}{suffix}", 0o600)
            except OSError:
                pass
        self._local.conn = conn
        return conn

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            logger.warning("reply cache %s unusable (%s): counted as misses", self.path, exc)
            self._warned = True

    def get(self, key: str) -> bytes | None:
        conn = self._connect()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE replies SET used = ? WHERE key = ?", (time.time(), key))
            return bytes(row[0])
        except sqlite3.Error as exc:
            self._warn(exc)
            return None

    def put(self, key: str, value: bytes) -> None:
        conn = self._connect()
        if conn is None:
            return
        try:
            conn.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?)", (key, value, time.time()))
            self._puts += 1
            if self._puts % 256 == 1:  # bound the size now and then, not on every write
                self.trim()
        except sqlite3.Error as exc:
            self._warn(exc)

    def trim(self) -> None:
        """Drop the least recently used rows beyond ``max_entries``."""
        conn = self._connect()
        if conn is None:
            return
        conn.execute("DELETE FROM replies WHERE key IN (SELECT key FROM replies ORDER BY used DESC "
                     "LIMIT -1 OFFSET ?)", (self.max_entries,))

    def stats(self) -> dict[str, int | str]:
        """Entries and bytes on disk (``reasonrank cache stats``)."""
        conn = self._connect()
        entries = 0
        if conn is not None:
            try:
                entries = int(conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0])
            except sqlite3.Error as exc:
                self._warn(exc)
        size = sum(p.stat().st_size for p in self.folder.glob(DB_NAME + "*"))
        return {"path": str(self.path), "entries": entries, "bytes": size}

    def clear(self) -> None:
        """Remove every entry (``reasonrank cache clear``); a broken file is deleted."""
        conn = self._connect()
        try:
            if conn is None:
                raise sqlite3.DatabaseError("unusable")
            conn.execute("DELETE FROM replies")
            conn.execute("VACUUM")
        except sqlite3.Error:
            self.close()
            for p in self.folder.glob(DB_NAME + "*"):
                p.unlink()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class TieredStore:
    """Memory in front of disk: a disk hit is copied into memory."""

    def __init__(self, memory: MemoryStore, disk: DiskStore) -> None:
        self.memory, self.disk = memory, disk

    def get(self, key: str) -> bytes | None:
        value = self.memory.get(key)
        if value is None:
            value = self.disk.get(key)
            if value is not None:
                self.memory.put(key, value)
        return value

    def put(self, key: str, value: bytes) -> None:
        self.memory.put(key, value)
        self.disk.put(key, value)


__all__ = ["DB_NAME", "DiskStore", "MemoryStore", "Store", "TieredStore", "prepare_folder"]
