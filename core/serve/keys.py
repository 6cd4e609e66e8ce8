"""The service's API keys: several at once, so that keys rotate without a restart.

Keys come from ``--api-key`` (repeatable), the ``REASONRANK_SERVE_API_KEYS`` environment
variable (several separated by commas; ``REASONRANK_API_KEY`` is the upstream engine's key,
never a client key: see :func:`reasonrank.serve.settings.check_key_sources`) and a key file
(``--api-key-file``: one key per line, blank lines and ``#`` comments ignored), which is read
again whenever it changes (its modification time or size). A request is admitted when its bearer token equals any key; keys are compared in
constant time and never logged (only how many there are).
"""
from __future__ import annotations

import hmac
import logging
import os
import threading
from pathlib import Path

from reasonrank.errors import InvalidInputError

log = logging.getLogger("reasonrank.serve")


def parse_key_file(text: str) -> tuple[str, ...]:
    """The keys of a key file's text."""
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


class KeyRing:
    """The keys a request may present: fixed ones plus a key file's, re-read on change."""

    def __init__(self, keys: tuple[str, ...] = (), key_file: str | os.PathLike[str] | None = None) -> None:
        self.fixed = tuple(keys)
        self.path = Path(key_file) if key_file is not None else None
        self._file_keys: tuple[str, ...] = ()
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        if self.path is not None:
            if not self.path.is_file():
                raise InvalidInputError(f"--api-key-file {self.path}: no such file")
            self._reload(strict=True)
            if not self._file_keys and not self.fixed:
                raise InvalidInputError(f"--api-key-file {self.path}: no keys in it (one key per line; "
                                        "blank lines and '#' comments are ignored)")

    @property
    def enabled(self) -> bool:
        """Whether requests need a key (any key source configured)."""
        return bool(self.fixed) or self.path is not None

    def keys(self) -> tuple[str, ...]:
        """Every key valid now (the key file re-read if it changed)."""
        self._reload()
        return self.fixed + self._file_keys

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is one of the keys (every key compared, in constant time each)."""
        given = token.encode()
        matches = [hmac.compare_digest(given, key.encode()) for key in self.keys()]
        return any(matches)

    def describe(self) -> dict[str, object]:
        """What may be logged: counts and the file's path, never a key."""
        return {"keys": len(self.fixed), "key_file": str(self.path) if self.path else None,
                "file_keys": len(self._file_keys)}

    def _reload(self, strict: bool = False) -> None:
        """Read the key file if it changed. ``strict`` (at start-up): a file that cannot be read
        is an error; later it is a warning, and the keys read last stay valid (a file being
        replaced)."""
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except OSError as exc:  # a file being replaced: keep the keys read last
            if strict:
                raise InvalidInputError(f"--api-key-file {self.path}: cannot be read ({_why(exc)})") from None
            log.warning("API key file %s unreadable (%s); keeping the %d keys read before",
                        self.path, type(exc).__name__, len(self._file_keys))
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                keys = parse_key_file(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                if strict:
                    raise InvalidInputError(f"--api-key-file {self.path}: cannot be read ({_why(exc)})") from None
                log.warning("API key file %s unreadable (%s); keeping the keys read before",
                            self.path, type(exc).__name__)
                return
            self._file_keys, self._stamp = keys, stamp
            log.info("API key file %s read: %d keys", self.path, len(keys))


def _why(exc: BaseException) -> str:
    """Why a file could not be read, in words (never its content)."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return getattr(exc, "strerror", None) or type(exc).__name__


__all__ = ["KeyRing", "parse_key_file"]
