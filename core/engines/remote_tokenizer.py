"""Token counting and cutting through a server's own tokenizer, for OpenAI-compatible servers
whose model has no tokenizer on this machine.

One ``/tokenize`` round trip per distinct text, sent concurrently (never a blocking call in the
event loop), cached; a cut is the first ``n`` ids sent back through ``/detokenize`` — no search
over round trips. The dialect is found on the first call and kept:

* vLLM: ``POST /tokenize {"model", "prompt", "add_special_tokens"}`` -> ``{"tokens": [...]}``,
  ``POST /detokenize {"model", "tokens"}`` -> ``{"prompt": "..."}``
  (vllm/entrypoints/openai/serving_tokenization.py);
* llama.cpp's server: ``/tokenize {"content"}`` -> ``{"tokens"}``, ``/detokenize {"tokens"}``
  -> ``{"content"}`` (tools/server/README.md);
* llama-cpp-python's server: ``/extras/tokenize {"input"}`` -> ``{"tokens"}``,
  ``/extras/detokenize {"tokens"}`` -> ``{"text"}``.
"""
from __future__ import annotations

import asyncio
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reasonrank.errors import EngineError
from reasonrank.lru import LRUCache

Post = Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class Dialect:
    """How one server family spells tokenize/detokenize."""

    name: str
    tokenize_path: str
    detokenize_path: str
    text_key: str  # request field holding the text
    ids_key: str  # reply field of /tokenize holding the ids
    decoded_key: str  # reply field of /detokenize holding the text
    with_model: bool  # vLLM wants the model name in both requests

    def tokenize_body(self, model: str, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {self.text_key: text}
        if self.with_model:
            body.update(model=model, add_special_tokens=False)
        elif self.name == "llama.cpp":
            body["add_special"] = False
        return body

    def detokenize_body(self, model: str, ids: Sequence[int]) -> dict[str, Any]:
        body: dict[str, Any] = {"tokens": list(ids)}
        if self.with_model:
            body["model"] = model
        return body


DIALECTS = (
    Dialect("vllm", "/tokenize", "/detokenize", "prompt", "tokens", "prompt", True),
    Dialect("llama.cpp", "/tokenize", "/detokenize", "content", "tokens", "content", False),
    Dialect("llama-cpp-python", "/extras/tokenize", "/extras/detokenize", "input", "tokens", "text", False),
)


def surely_fits(text: str, max_tokens: int) -> bool:
    """True when ``text`` cannot have more than ``max_tokens`` tokens in any subword tokenizer,
    so no round trip is needed to know it needs no cut. For ASCII text (which no normalizer
    lengthens) every token covers at least one character, plus at most one added prefix space or
    dummy-prefix piece (SentencePiece); non-ASCII text always goes to the server."""
    return len(text) + 2 <= max_tokens and text.isascii()


class RemoteTokenizer:
    """Tokenize/detokenize through the server. ``post(url, body)`` returns ``(status, json)``.

    All methods are coroutines; callers in sync code run them on their own loop.
    """

    def __init__(self, root_url: str, model: str, *, cache_size: int = 8192) -> None:
        self.root_url = root_url.rstrip("/")
        self.model = model
        # ids kept as 4-byte arrays: 8192 passages of 512 tokens hold 16 MB, not 150 MB of lists
        self.cache: LRUCache[str, Sequence[int]] = LRUCache(cache_size)
        self.cuts: LRUCache[tuple[str, int], str] = LRUCache(cache_size)
        self.dialect: Dialect | None = None
        self.max_model_len: int | None = None  # vLLM reports it with every /tokenize

    async def _probe(self, post: Post, text: str) -> list[int]:
        """Find the server's dialect with a real text (an empty answer to a non-empty text is a
        dialect mismatch: llama.cpp answers vLLM's body with ``[]``)."""
        for dialect in DIALECTS:
            status, data = await post(self.root_url + dialect.tokenize_path, dialect.tokenize_body(self.model, text))
            ids = data.get(dialect.ids_key) if status == 200 and isinstance(data, dict) else None
            if isinstance(ids, list) and (ids or not text):
                self.dialect = dialect
                return self._record(data, ids)
        raise EngineError(
            f"{self.root_url} has no tokenize endpoint (tried vLLM, llama.cpp and llama-cpp-python): "
            "pass tokenizer=<HF tokenizer path> to count tokens locally"
        )

    def _record(self, data: dict[str, Any], ids: list[Any]) -> list[int]:
        if isinstance(data.get("max_model_len"), int):
            self.max_model_len = data["max_model_len"]
        if ids and not isinstance(ids[0], int):  # llama.cpp with_pieces gives dicts
            ids = [int(i["id"]) if isinstance(i, dict) else int(i) for i in ids]
        return ids

    async def encode(self, post: Post, text: str) -> Sequence[int]:
        """Token ids of ``text`` (no special tokens), from the cache or one round trip."""
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        if self.dialect is None:
            ids = await self._probe(post, text)
        else:
            d = self.dialect
            status, data = await post(self.root_url + d.tokenize_path, d.tokenize_body(self.model, text))
            if status != 200 or not isinstance(data, dict) or not isinstance(data.get(d.ids_key), list):
                raise EngineError(f"HTTP {status} from {self.root_url}{d.tokenize_path}: {str(data)[:200]}")
            ids = self._record(data, data[d.ids_key])
        self.cache.put(text, array("i", ids))
        return ids

    async def encode_many(self, post: Post, texts: Sequence[str]) -> list[Sequence[int]]:
        """Token ids of every text: distinct uncached texts go out concurrently (the caller's
        ``post`` bounds the requests in flight); the dialect probe goes first, alone. Results
        come from the replies, not the cache, so a run larger than the cache costs no re-asks."""
        found: dict[str, Sequence[int]] = {}
        todo: list[str] = []
        for text in dict.fromkeys(texts):
            ids = self.cache.get(text)
            if ids is None:
                todo.append(text)
            else:
                found[text] = ids
        if todo and self.dialect is None:
            found[todo[0]] = await self.encode(post, todo[0])
            todo = todo[1:]
        found.update(zip(todo, await asyncio.gather(*(self.encode(post, t) for t in todo))))
        return [found[t] for t in texts]

    async def decode(self, post: Post, ids: Sequence[int]) -> str:
        """The text of ``ids`` (the server's own detokenizer)."""
        if self.dialect is None:
            raise EngineError("internal error: decode before any encode")
        d = self.dialect
        status, data = await post(self.root_url + d.detokenize_path, d.detokenize_body(self.model, ids))
        text = data.get(d.decoded_key) if status == 200 and isinstance(data, dict) else None
        if not isinstance(text, str):
            raise EngineError(f"HTTP {status} from {self.root_url}{d.detokenize_path}: {str(data)[:200]}")
        return text

    async def truncate(self, post: Post, text: str, max_tokens: int) -> str:
        """``text`` cut to its first ``max_tokens`` tokens: no round trip when it surely fits,
        else one ``/tokenize`` (cached), and one ``/detokenize`` only when it is too long."""
        if surely_fits(text, max_tokens):
            return text
        return await self._cut(post, text, await self.encode(post, text), max_tokens)

    async def _cut(self, post: Post, text: str, ids: Sequence[int], max_tokens: int) -> str:
        if len(ids) <= max_tokens:
            return text
        cut = self.cuts.get((text, max_tokens))
        if cut is None:
            cut = await self.decode(post, ids[:max_tokens])
            self.cuts.put((text, max_tokens), cut)
        return cut

    async def truncate_many(self, post: Post, texts: Sequence[str], max_tokens: int) -> list[str]:
        """:meth:`truncate` for many texts, concurrently (each distinct text asked once)."""
        unique = [t for t in dict.fromkeys(texts) if not surely_fits(t, max_tokens)]
        ids = await self.encode_many(post, unique)
        cuts = await asyncio.gather(*(self._cut(post, t, i, max_tokens) for t, i in zip(unique, ids)))
        done = dict(zip(unique, cuts))
        return [done.get(t, t) for t in texts]
