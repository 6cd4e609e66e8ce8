"""The reply cache's memo of tokenizer results (token counts and cuts): on a served model each
is a ``/tokenize`` round trip, so a repeated query served from the cache makes none."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reasonrank.lru import LRUCache


class TokenMemo(LRUCache[tuple[Any, ...], Any]):
    """A bounded LRU of tokenizer results, keyed ``("count", text)`` or ``("cut", text, max_tokens)``."""

    def remember(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def split(self, texts: Sequence[str], max_tokens: int) -> tuple[list[str | None], list[str]]:
        """Each text's remembered cut (``None`` if not yet known), and the unknown texts once each."""
        found = [self.get(("cut", t, max_tokens)) for t in texts]
        missing = list(dict.fromkeys(t for t, f in zip(texts, found, strict=True) if f is None))
        return found, missing

    def fill(self, texts: Sequence[str], found: list[str | None], missing: list[str], max_tokens: int,
             fresh: Sequence[str]) -> list[str]:
        """Remember the ``fresh`` cuts of ``missing``; every text's cut, in order."""
        new = dict(zip(missing, fresh, strict=True))
        for text, value in new.items():
            self.put(("cut", text, max_tokens), value)
        return [f if f is not None else new[t] for t, f in zip(texts, found, strict=True)]
