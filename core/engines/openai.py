"""Any OpenAI-compatible server: ``vllm serve``, SGLang, llama.cpp's server, hosted APIs.

Plain httpx, no ``openai`` package. Requests are really concurrent (``agenerate`` gathers them,
bounded by a semaphore of ``max_concurrency``); transient failures (connection errors, timeouts,
HTTP 408/429/5xx) are retried with exponential backoff and jitter, honouring ``Retry-After``, at
most ``max_retries`` times; anything else raises one :class:`EngineError` with a one-line cause.

Prompts: with a local HF ``tokenizer`` the engine renders the chat template itself and uses
``/v1/completions`` (so ``assistant_prefix`` and ``render`` are exact). Without one it uses
``/v1/chat/completions``; an ``assistant_prefix`` is then sent as a final assistant message with
``continue_final_message: true, add_generation_prompt: false`` (vLLM's extension).
"""
from __future__ import annotations

import asyncio
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from reasonrank.engines.base import (
    ChatRequest,
    ChoiceDistribution,
    Engine,
    Generation,
    SamplingParams,
)
from reasonrank.engines.hf_tokenizer import HFTokenizerMixin
from reasonrank.errors import EngineError

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


class OpenAIEngine(Engine):
    """Client for an OpenAI-compatible server.

    Parameters
    ----------
    model:
        The served model name.
    base_url:
        Server URL ending in ``/v1``; default ``$REASONRANK_BASE_URL``, ``$OPENAI_BASE_URL`` or
        ``http://127.0.0.1:8000/v1``.
    api_key:
        Default ``$REASONRANK_API_KEY`` or ``$OPENAI_API_KEY`` (empty is fine for local servers).
    max_concurrency:
        Requests in flight at once.
    timeout:
        Seconds per HTTP request.
    max_retries:
        Retries of a transient failure (so at most ``max_retries + 1`` attempts).
    tokenizer:
        Optional local HF tokenizer (path or id) for exact rendering and token counting.
    max_context:
        The served model's context length, for prompt checks.
    """

    name = "openai"

    def __init__(
        self,
        model: str = "default",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 16,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        tokenizer: str | None = None,
        max_context: int | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("max_concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        self.model_name = model
        self.base_url = (
            base_url or os.environ.get("REASONRANK_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key = api_key if api_key is not None else (
            os.environ.get("REASONRANK_API_KEY") or os.environ.get("OPENAI_API_KEY") or ""
        )
        self.max_concurrency = max_concurrency
        self.max_batch_size = 1
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_context = max_context
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.extra_body = dict(extra_body or {})
        self.tokenizer = None
        if tokenizer:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self._token_cache: dict[str, list[int]] = {}
        self._local = threading.local()  # one event loop + client per calling thread (sync path)

    # -- HTTP -------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _semaphore(self) -> asyncio.Semaphore:
        """A semaphore bound to the running loop (asyncio primitives are per loop)."""
        loop = asyncio.get_running_loop()
        sems = self.__dict__.setdefault("_sems", weakref.WeakKeyDictionary())
        if loop not in sems:
            sems[loop] = asyncio.Semaphore(self.max_concurrency)
        return sems[loop]

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}{path}"
        last = ""
        async with self._semaphore():
            async with httpx.AsyncClient(timeout=self.timeout, headers=self._headers()) as client:
                for attempt in range(self.max_retries + 1):
                    delay = self.backoff * (2**attempt) * (0.5 + random.random())
                    try:
                        response = await client.post(url, json=payload)
                    except httpx.TimeoutException:
                        last = f"request to {url} timed out after {self.timeout:g} s"
                    except httpx.TransportError as exc:
                        last = f"server at {self.base_url} not reachable ({type(exc).__name__})"
                    else:
                        if response.status_code == 200:
                            try:
                                return response.json()
                            except ValueError:
                                raise EngineError(
                                    f"malformed JSON from {url}: {_first_line(response.text)!r}"
                                ) from None
                        last = f"HTTP {response.status_code} from {url}: {_first_line(response.text)}"
                        if response.status_code not in _RETRY_STATUS:
                            raise EngineError(last)
                        retry_after = response.headers.get("Retry-After")
                        if retry_after:
                            try:
                                delay = min(float(retry_after), 60.0)
                            except ValueError:
                                pass
                    if attempt < self.max_retries:
                        await asyncio.sleep(delay)
        raise EngineError(f"{last} (after {self.max_retries + 1} attempts)")

    def _run(self, coro: Any) -> Any:
        """Run a coroutine from sync code, also when the caller's thread has a running loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        result: dict[str, Any] = {}

        def target() -> None:
            try:
                result["value"] = asyncio.run(coro)
            except BaseException as exc:  # re-raised in the caller's thread
                result["error"] = exc

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]

    # -- requests ---------------------------------------------------------------------------
    def _payload(self, request: ChatRequest, params: SamplingParams) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            **self.extra_body,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if self.tokenizer is not None:
            body["prompt"] = self.render(request)
            return "/completions", body
        messages = [dict(m) for m in request.messages]
        if request.assistant_prefix:
            messages.append({"role": "assistant", "content": request.assistant_prefix})
            body.update(continue_final_message=True, add_generation_prompt=False)
        body["messages"] = messages
        if self.chat_template_kwargs:
            body["chat_template_kwargs"] = self.chat_template_kwargs
        return "/chat/completions", body

    @staticmethod
    def _choice(data: dict[str, Any], url_path: str) -> dict[str, Any]:
        try:
            return data["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise EngineError(f"reply from {url_path} has no choices: {str(data)[:200]!r}") from None

    async def _one(self, request: ChatRequest, params: SamplingParams) -> Generation:
        path, body = self._payload(request, params)
        started = time.perf_counter()
        data = await self._post(path, body)
        choice = self._choice(data, path)
        text = choice.get("text") if path == "/completions" else (choice.get("message") or {}).get("content")
        if text is None:
            raise EngineError(f"empty completion from {self.base_url}{path}")
        usage = data.get("usage") or {}
        finish = choice.get("finish_reason") or "stop"
        return Generation(
            text=text,
            finish_reason="length" if finish == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=time.perf_counter() - started,
        )

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        return list(await asyncio.gather(*(self._one(r, params) for r in requests)))

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        return self._run(self.agenerate(list(requests), params))

    # -- scoring ----------------------------------------------------------------------------
    async def _distribution(self, request: ChatRequest, choices: Sequence[str]) -> ChoiceDistribution:
        path, body = self._payload(request, SamplingParams(max_tokens=1))
        if path == "/completions":
            body["logprobs"] = 20
        else:
            body.update(logprobs=True, top_logprobs=20)
        started = time.perf_counter()
        data = await self._post(path, body)
        choice = self._choice(data, path)
        top: dict[str, float] = {}
        logprobs = choice.get("logprobs") or {}
        if path == "/completions":
            entries = logprobs.get("top_logprobs") or []
            top = dict(entries[0]) if entries else {}
        else:
            content = logprobs.get("content") or []
            if content:
                top = {e["token"]: e["logprob"] for e in content[0].get("top_logprobs") or []}
        if not top:
            raise EngineError(f"no logprobs in the reply from {self.base_url}{path} (does the server support them?)")
        # Only the first token of each choice is visible here: exact for single-token choices
        # (" true"/" false"); for multi-token choices it is the first token's mass.
        scores = {}
        for c in choices:
            exact = top.get(c)
            scores[c] = exact if exact is not None else max(
                (v for tok, v in top.items() if tok.strip() and c.strip().startswith(tok.strip())),
                default=-math.inf,
            )
        usage = data.get("usage") or {}
        return ChoiceDistribution(
            logprobs=scores, prompt_tokens=int(usage.get("prompt_tokens") or 0),
            seconds=time.perf_counter() - started,
        )

    async def achoice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        return list(await asyncio.gather(*(self._distribution(r, choices) for r in requests)))

    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        return self._run(self.achoice_logprobs(list(requests), list(choices)))

    # -- tokens -----------------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[int]:
        if self.tokenizer is not None:
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        if text not in self._token_cache:
            root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
            attempts = [
                (f"{root}/tokenize", {"model": self.model_name, "prompt": text, "add_special_tokens": False}, "tokens"),
                (f"{root}/extras/tokenize", {"input": text}, "tokens"),
            ]
            self._token_cache[text] = self._run(self._tokenize_remote(attempts))
        return self._token_cache[text]

    async def _tokenize_remote(self, attempts: list[tuple[str, dict[str, Any], str]]) -> list[int]:
        import httpx

        statuses: list[tuple[str, int]] = []
        async with httpx.AsyncClient(timeout=self.timeout, headers=self._headers()) as client:
            for url, body, key in attempts:
                try:
                    response = await client.post(url, json=body)
                except httpx.TimeoutException:
                    raise EngineError(f"token count request to {url} timed out after {self.timeout:g} s") from None
                except httpx.HTTPError as exc:
                    raise EngineError(f"server at {self.base_url} not reachable ({type(exc).__name__})") from None
                if response.status_code == 200:
                    try:
                        return [int(t) for t in response.json()[key]]
                    except (ValueError, KeyError, TypeError):
                        raise EngineError(
                            f"malformed tokenize reply from {url}: {_first_line(response.text)!r}"
                        ) from None
                statuses.append((url, response.status_code))
        if any(code >= 500 for _, code in statuses):  # the server is failing, not lacking the endpoint
            seen = "; ".join(f"HTTP {code} from {url}" for url, code in statuses)
            raise EngineError(f"token counting failed: {seen}")
        raise EngineError(
            f"{self.base_url} has no tokenize endpoint: pass tokenizer=<HF tokenizer path> to count tokens"
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        if self.tokenizer is not None:
            ids = self._tokenize(text)
            return text if len(ids) <= max_tokens else self.tokenizer.decode(ids[:max_tokens])
        if len(self._tokenize(text)) <= max_tokens:
            return text
        # Without a local tokenizer: cut by words until the server's count fits.
        words = text.split()
        lo, hi = 0, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(self._tokenize(" ".join(words[:mid]))) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo])

    def render(self, request: ChatRequest) -> str:
        if self.tokenizer is not None:
            return HFTokenizerMixin.render(self, request)
        # The server applies its template; show the messages as sent.
        parts = [f"<{m['role']}>\n{m['content']}" for m in request.messages]
        if request.assistant_prefix:
            parts.append(f"<assistant (continued)>\n{request.assistant_prefix}")
        return "\n".join(parts)
