"""Any OpenAI-compatible server: ``vllm serve``, SGLang, llama.cpp's server, hosted APIs.

Plain aiohttp, no ``openai`` package. Requests are really concurrent (``agenerate`` gathers them,
bounded by a semaphore of ``max_concurrency``); transient failures (connection errors, timeouts,
HTTP 408/429/5xx) are retried with exponential backoff and jitter, honouring ``Retry-After``, at
most ``max_retries`` times; anything else raises one :class:`EngineError` with a one-line cause.

Prompts: with a local HF ``tokenizer`` the engine renders the chat template itself and uses
``/v1/completions`` (so ``assistant_prefix`` and ``render`` are exact). Without one it uses
``/v1/chat/completions``; an ``assistant_prefix`` is then sent as a final assistant message with
``continue_final_message: true, add_generation_prompt: false`` (vLLM's extension).

Tokens (passage cuts, counts): the model's own tokenizer when it is on this machine (``tokenizer=``,
or found offline from the model name: a folder or the HF cache; never a hub download), else the
server's ``/tokenize`` and ``/detokenize`` (:mod:`reasonrank.engines.remote_tokenizer`), batched and
concurrent through :meth:`OpenAIEngine.atruncate_many`. One HTTP session per event loop is kept.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
import weakref
from collections.abc import Sequence
from typing import Any

from reasonrank._async import run_coroutine
from reasonrank.engines.base import (
    ChatRequest,
    ChoiceDistribution,
    Engine,
    Generation,
    SamplingParams,
)
from reasonrank.engines.hf_tokenizer import HFTokenizerMixin, render_chat
from reasonrank.engines.remote_tokenizer import RemoteTokenizer, surely_fits
from reasonrank.errors import EngineError
from reasonrank.secret import UPSTREAM_KEY, Secret, as_secret, resolve, wrap_credentials

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


def find_local_tokenizer(model: str) -> Any | None:
    """The HF tokenizer of ``model`` if it is on this machine (a folder, or the HF cache), else
    ``None``. Offline only: never downloads, and imports transformers only when a copy exists."""
    if not model or model == "default":
        return None
    try:
        if os.path.isdir(model):
            if not any(os.path.exists(os.path.join(model, f)) for f in ("tokenizer.json", "tokenizer_config.json")):
                return None
        else:
            from huggingface_hub import try_to_load_from_cache

            if not isinstance(try_to_load_from_cache(model, "tokenizer_config.json"), str):
                return None
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model, local_files_only=True)
    except Exception:  # noqa: BLE001 - not a usable local copy: tokenize on the server
        return None


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
        A :class:`~reasonrank.secret.Secret` or a string (held as one): resolved when a request is
        sent, never kept in clear. Default ``$REASONRANK_API_KEY`` or ``$OPENAI_API_KEY``, read at
        each request (unset or empty is fine for local servers); ``""``: send no key.
    headers:
        Extra HTTP headers for every request (e.g. a provider's ``api-key``); credential headers
        (``Authorization``, ``api-key``...) are held as Secrets too.
    max_concurrency:
        Requests in flight at once.
    timeout:
        Seconds per HTTP request.
    max_retries:
        Retries of a transient failure (so at most ``max_retries + 1`` attempts).
    tokenizer:
        The model's HF tokenizer (path, id or tokenizer object) for exact rendering and token
        counting; prompts are then rendered here and sent to ``/v1/completions``. ``None``
        (default): the model name's tokenizer if it is on this machine (used for tokens only;
        prompts still go to ``/v1/chat/completions``), else the server's ``/tokenize``.
        ``False``: always the server's.
    max_context:
        The served model's context length, for prompt checks.
    """

    name = "openai"

    def __init__(
        self,
        model: str = "default",
        *,
        base_url: str | None = None,
        api_key: str | Secret | None = None,
        headers: dict[str, str | Secret] | None = None,
        max_concurrency: int = 16,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        tokenizer: Any = None,
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
        # Held as a Secret and resolved per request: the key is never an attribute in clear.
        self.api_key: Secret | None = (UPSTREAM_KEY if api_key is None else as_secret(api_key))
        self.headers = wrap_credentials({"headers": dict(headers or {})})["headers"]
        self.max_concurrency = max_concurrency
        self.max_batch_size = 1
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_context = max_context
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.extra_body = dict(extra_body or {})
        self.tokenizer = None
        self._render_locally = False  # only with a tokenizer the caller chose
        if isinstance(tokenizer, str) and tokenizer:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            self._render_locally = True
        elif tokenizer is not None and tokenizer is not False:
            self.tokenizer = tokenizer
            self._render_locally = True
        elif tokenizer is None:
            self.tokenizer = find_local_tokenizer(model)
        root = self.base_url.removesuffix("/v1")
        self.remote_tokenizer = RemoteTokenizer(root, model)

    # -- HTTP -------------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """The credential and extra headers of a request, resolved now (a strict env-var Secret
        whose variable is unset raises :class:`MissingSecretError` naming it)."""
        headers = {k: str(resolve(v, f"the openai engine's {k} header")) for k, v in self.headers.items()}
        key = resolve(self.api_key, "the openai engine's api_key")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _semaphore(self) -> asyncio.Semaphore:
        """A semaphore bound to the running loop (asyncio primitives are per loop)."""
        loop = asyncio.get_running_loop()
        sems = self.__dict__.setdefault("_sems", weakref.WeakKeyDictionary())
        if loop not in sems:
            sems[loop] = asyncio.Semaphore(self.max_concurrency)
        return sems[loop]

    def _session(self) -> Any:
        """The running loop's aiohttp session (connections are kept alive across requests).

        A client per request, or httpx's pool, cost milliseconds of CPU per request: more than
        everything else the library does for a window. A keeper task closes the session when
        the loop's tasks are cancelled at shutdown (``asyncio.run``); :meth:`aclose` closes it
        at once (the sync path does so after each call).
        """
        import aiohttp

        loop = asyncio.get_running_loop()
        sessions = self.__dict__.setdefault("_sessions", weakref.WeakKeyDictionary())
        session = sessions.get(loop)
        if session is None or session.closed:
            session = sessions[loop] = aiohttp.ClientSession(
                headers={"Content-Type": "application/json"},  # credentials: per request
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=self.max_concurrency),
            )
            keepers = self.__dict__.setdefault("_keepers", weakref.WeakKeyDictionary())
            keepers[loop] = loop.create_task(self._keep(session), name="reasonrank-openai-session")
        return session

    @staticmethod
    async def _keep(session: Any) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            await session.close()

    async def aclose(self) -> None:
        """Close the running loop's HTTP session."""
        loop = asyncio.get_running_loop()
        session = self.__dict__.get("_sessions", {}).pop(loop, None)
        keeper = self.__dict__.get("_keepers", {}).pop(loop, None)
        if keeper is not None:
            keeper.cancel()
        if session is not None:
            await session.close()

    async def _send(self, url: str, payload: dict[str, Any], *, check: bool = True) -> tuple[int, Any]:
        """POST with retries of transient failures; ``(status, JSON)``. With ``check`` any
        final status but 200 raises; without, it is returned (the tokenizer probes dialects)."""
        import aiohttp

        data = json.dumps(payload).encode()
        headers = self.auth_headers()  # resolved at the moment of the request
        last = ""
        async with self._semaphore():
            session = self._session()
            for attempt in range(self.max_retries + 1):
                delay = self.backoff * (2**attempt) * (0.5 + random.random())
                try:
                    async with session.post(url, data=data, headers=headers) as response:
                        status, raw, retry_after = response.status, await response.read(), response.headers.get("Retry-After")
                except TimeoutError:
                    last = f"request to {url} timed out after {self.timeout:g} s"
                except aiohttp.ClientError as exc:
                    last = f"server at {self.base_url} not reachable ({type(exc).__name__})"
                else:
                    if status == 200:
                        try:
                            return 200, json.loads(raw)
                        except ValueError:
                            text = raw.decode("utf-8", errors="replace")
                            raise EngineError(f"malformed JSON from {url}: {_first_line(text)!r}") from None
                    text = raw.decode("utf-8", errors="replace")
                    last = f"HTTP {status} from {url}: {_first_line(text)}"
                    if status not in _RETRY_STATUS:
                        if check:
                            raise EngineError(last)
                        return status, _first_line(text)
                    if retry_after:
                        try:
                            delay = min(float(retry_after), 60.0)
                        except ValueError:
                            pass
                if attempt < self.max_retries:
                    await asyncio.sleep(delay)
        raise EngineError(f"{last} (after {self.max_retries + 1} attempts)")

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return (await self._send(f"{self.base_url}{path}", payload))[1]

    async def _post_any(self, url: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return await self._send(url, payload, check=False)

    def _run(self, coro: Any) -> Any:
        """Run a coroutine from sync code, also when the caller's thread has a running loop
        (then in a helper thread: blocking; async callers use the ``a*`` methods)."""
        return run_coroutine(self._closing(coro))

    async def _closing(self, coro: Any) -> Any:
        try:
            return await coro
        finally:
            await self.aclose()

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
        if self._render_locally:
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
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return HFTokenizerMixin.count_tokens(self, text)  # type: ignore[arg-type]
        cached = self.remote_tokenizer.cache.get(text)
        if cached is not None:
            return len(cached)
        return len(self._run(self.remote_tokenizer.encode(self._post_any, text)))

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        if self.tokenizer is not None:
            return HFTokenizerMixin.truncate_tokens(self, text, max_tokens)  # type: ignore[arg-type]
        ids = self.remote_tokenizer.cache.get(text)
        if surely_fits(text, max_tokens) or (ids is not None and len(ids) <= max_tokens):
            return text
        cut = self.remote_tokenizer.cuts.get((text, max_tokens))
        if cut is not None:
            return cut
        return self._run(self.remote_tokenizer.truncate(self._post_any, text, max_tokens))

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        if self.tokenizer is not None:
            return HFTokenizerMixin.truncate_many(self, texts, max_tokens)  # type: ignore[arg-type]
        return self._run(self.atruncate_many(texts, max_tokens))

    async def atruncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Every text cut to ``max_tokens``: local tokenizer in a worker thread, or the server's
        ``/tokenize`` (one concurrent request per distinct uncached text) and ``/detokenize``."""
        if self.tokenizer is not None:
            return await asyncio.to_thread(self.truncate_many, list(texts), max_tokens)
        return await self.remote_tokenizer.truncate_many(self._post_any, list(texts), max_tokens)

    def render(self, request: ChatRequest) -> str:
        if self.tokenizer is not None:
            return render_chat(self.tokenizer, request, self.chat_template_kwargs)
        # The server applies its template; show the messages as sent.
        parts = [f"<{m['role']}>\n{m['content']}" for m in request.messages]
        if request.assistant_prefix:
            parts.append(f"<assistant (continued)>\n{request.assistant_prefix}")
        return "\n".join(parts)
