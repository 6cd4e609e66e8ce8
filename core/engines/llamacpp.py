"""llama.cpp engine (llama-cpp-python): the CPU path and the embedded default.

Prompts are rendered with the GGUF's own chat template (metadata ``tokenizer.chat_template``,
rendered by llama-cpp-python's Jinja2 formatter with HF's settings and
``add_generation_prompt=True``), tokenized here and sent to ``create_completion`` as token ids.
So the model sees exactly :meth:`LlamaCppEngine.render`'s text, and ``assistant_prefix`` is
simply appended after the open assistant turn.

llama.cpp runs one sequence at a time here, so ``max_batch_size`` is 1 and every call holds a
lock (the ``Llama`` object is not thread-safe).
"""
from __future__ import annotations

import atexit
import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasonrank.engines.base import (
    ChatRequest,
    ChoiceDistribution,
    Engine,
    Generation,
    SamplingParams,
    defang_messages,
)
from reasonrank.errors import EngineError, EngineUnavailableError, PromptTooLongError

# llama-cpp-python ships no usable binary wheel for Python 3.11 on the registries: it compiles
# from source (minutes), so it is its own extra and the default (ICR, transformers) skips it.
LLAMA_CPP_MISSING = (
    "this method or engine runs on llama.cpp, which is not installed. Install it with: "
    "bash scripts/install.sh llamacpp   (or: pip install 'reasonrank[llamacpp]'; it compiles "
    "llama-cpp-python, a few minutes on 2 cores)"
)


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailableError(LLAMA_CPP_MISSING) from exc
    return llama_cpp


# Engines not closed by their owner (e.g. held by a LlamaIndex postprocessor until the script
# ends) are closed at interpreter exit, before module teardown: otherwise llama-cpp-python's
# Llama.__del__ runs after its globals are gone and prints "Exception ignored in: ...
# TypeError: 'NoneType' object is not callable" on stderr.
_LIVE: weakref.WeakSet[LlamaCppEngine] = weakref.WeakSet()
_EXIT_HOOK = threading.Lock()
_exit_hook_registered = False


def _close_live_engines() -> None:
    for engine in list(_LIVE):
        try:
            engine.close()
        except Exception as exc:  # noqa: BLE001 - best effort at exit: note it, never raise
            logging.getLogger("reasonrank").debug("closing a llama.cpp engine at exit failed: %s", exc)


def _track(engine: LlamaCppEngine) -> None:
    """Close ``engine`` at exit. The hook is registered after llama_cpp is imported, so it runs
    before any exit hook of llama_cpp's own (atexit runs hooks last-in, first-out)."""
    global _exit_hook_registered
    with _EXIT_HOOK:
        if not _exit_hook_registered:
            atexit.register(_close_live_engines)
            _exit_hook_registered = True
    _LIVE.add(engine)


def _log_softmax_at(logits: Any, token_ids: Sequence[int]) -> list[float]:
    """``log softmax(logits)[t]`` for each ``t`` (float64, stable)."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64)
    top = row.max()
    lse = top + math.log(float(np.exp(row - top).sum()))
    return [float(row[t] - lse) for t in token_ids]


class LlamaCppEngine(Engine):
    """A GGUF model run in-process by llama.cpp.

    Args:
        model: path of the GGUF file.
        n_ctx: context window in tokens (prompt + generation).
        n_threads: CPU threads (default: all cores).
        n_batch: prompt-processing batch size.
        seed: sampler seed (used when ``temperature > 0``; a request's own seed wins).
        chat_template: Jinja chat template overriding the GGUF's (needed if it has none).
        n_gpu_layers: layers offloaded to a GPU build of llama.cpp (0 on CPU).
        verbose: let llama.cpp print its logs.
    """

    name = "llamacpp"
    max_batch_size = 1
    max_concurrency = 1

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        chat_template: str | None = None,
        n_gpu_layers: int = 0,
        verbose: bool = False,
        model_name: str | None = None,
    ) -> None:
        llama_cpp = _import_llama_cpp()
        path = Path(model)
        if not path.is_file():
            raise EngineUnavailableError(f"GGUF model file not found: {path}")
        self.model_path = path
        self.seed = seed
        self.n_ctx = n_ctx
        self.max_context = n_ctx
        self.model_name = model_name or path.stem
        started = time.perf_counter()
        try:
            # logits_all=False: keeping every position's logits costs n_ctx x vocab floats
            # (5 GB for Qwen at 8k); choice scoring reads the last position's logits directly.
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or 1,
                n_batch=n_batch,
                seed=seed,
                n_gpu_layers=n_gpu_layers,
                logits_all=False,
                verbose=verbose,
            )
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError on bad files
            raise EngineUnavailableError(f"llama.cpp could not load {path}: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Lock()
        self._closed = False
        _track(self)
        self._formatter = self._make_formatter(chat_template)

    # -- prompt ---------------------------------------------------------------------------
    def _make_formatter(self, override: str | None) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = override or self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise EngineError(
                f"{self.model_path.name} has no tokenizer.chat_template; pass chat_template="
            )
        vocab = self.llm._model  # token texts for the template's bos/eos variables
        bos_id, eos_id = self.llm.token_bos(), self.llm.token_eos()
        bos = vocab.token_get_text(bos_id) if bos_id >= 0 else ""
        eos = vocab.token_get_text(eos_id) if eos_id >= 0 else ""
        return Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True
        )

    def render(self, request: ChatRequest) -> str:
        # Passages are data: control tokens inside them must not close the turn (special=True below).
        response = self._formatter(messages=defang_messages(request.messages))
        return response.prompt + request.assistant_prefix

    def _prompt_ids(self, request: ChatRequest) -> list[int]:
        text = self.render(request)
        # special=True: the template's <|im_start|> etc. are control tokens, not text.
        ids = self.llm.tokenize(
            text.encode("utf-8"), add_bos=self.llm._model.add_bos_token(), special=True
        )
        if len(ids) >= self.n_ctx:
            raise PromptTooLongError(
                f"prompt has {len(ids)} tokens, the context window is {self.n_ctx} (n_ctx)"
            )
        return ids

    # -- tokens ---------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        # special=True like HF tokenizers: control tokens in text (a rendered prompt) count once.
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._encode(text))

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        with self._lock:
            ids = self._encode(text)
            if len(ids) <= max_tokens:
                return text
            return self.llm.detokenize(ids[: max(max_tokens, 0)]).decode("utf-8", "ignore")

    # -- generation -----------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        return [self._generate_one(r, params) for r in requests]

    def _generate_one(self, request: ChatRequest, params: SamplingParams) -> Generation:
        self._check_open()
        with self._lock:
            ids = self._prompt_ids(request)
            started = time.perf_counter()
            try:
                out = self.llm.create_completion(
                    prompt=ids,
                    max_tokens=params.max_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    stop=list(params.stop) or None,
                    seed=params.seed if params.seed is not None else self.seed,
                )
            except Exception as exc:
                raise EngineError(f"llama.cpp generation failed: {exc}") from exc
            seconds = time.perf_counter() - started
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Generation(
            text=choice.get("text") or "",
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens", len(ids))),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
        )

    # -- scoring --------------------------------------------------------------------------
    def choice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        """Exact ``log p(choice | prompt)``, teacher-forcing every token of multi-token choices."""
        if not choices:
            raise ValueError("choice_logprobs needs at least one choice")
        return [self._score_one(r, list(choices)) for r in requests]

    def _last_logits(self) -> Any:
        import numpy as np

        # After eval() with logits_all=False only the last position has logits.
        ptr = self.llm._ctx.get_logits()
        return np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).copy()

    def _score_one(self, request: ChatRequest, choices: list[str]) -> ChoiceDistribution:
        self._check_open()
        with self._lock:
            ids = self._prompt_ids(request)
            started = time.perf_counter()
            try:
                self._eval_prompt(ids)
                first = self._last_logits()
                logprobs: dict[str, float] = {}
                for choice in choices:
                    tokens = self._encode(choice)
                    if not tokens:
                        raise ValueError(f"choice {choice!r} encodes to no tokens")
                    total = _log_softmax_at(first, tokens[:1])[0]
                    if len(tokens) > 1:
                        # Teacher forcing: rewind to the prompt (KV cache kept) and feed the
                        # choice token by token, adding each next token's log-probability.
                        self.llm.n_tokens = len(ids)
                        for prev, nxt in itertools.pairwise(tokens):
                            self.llm.eval([prev])
                            total += _log_softmax_at(self._last_logits(), [nxt])[0]
                    logprobs[choice] = total
            except ValueError:
                raise
            except Exception as exc:
                raise EngineError(f"llama.cpp scoring failed: {exc}") from exc
            finally:
                # The live logits now belong to a choice token, not to the prompt: rewind one
                # token before the prompt's end so the next create_completion re-evaluates the
                # last prompt token instead of sampling from stale logits (its exact-cache hit).
                self.llm.n_tokens = min(self.llm.n_tokens, len(ids) - 1)
                # A shorter cached prompt could still hit exactly: mark the logits stale.
                self.llm._requires_eval = True
            seconds = time.perf_counter() - started
        return ChoiceDistribution(logprobs=logprobs, prompt_tokens=len(ids), seconds=seconds)

    def _eval_prompt(self, ids: list[int]) -> None:
        # Reuse the KV cache for the longest common prefix with what is already evaluated
        # (listwise windows and pointwise prompts share long prefixes); always re-evaluate
        # at least the last token so its logits are fresh.
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        keep = 0
        for a, b in zip(cached, ids[:-1]):
            if a != b:
                break
            keep += 1
        self.llm.n_tokens = keep
        self.llm.eval(ids[keep:])

    # -- lifecycle ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("the llama.cpp engine is closed")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.llm.close()

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(model_path=str(self.model_path), n_ctx=self.n_ctx)
        return info


class EmbeddedEngine(LlamaCppEngine):
    """A shipped embedded model on llama.cpp: Qwen2.5-Coder-0.5B-Instruct Q4_K_M
    (``reasonrank[embedded]``, the default) or, with ``model="embedded-1.5b"``, the 1.5B
    (``reasonrank[embedded-1.5b]``).

    Needs no arguments; keyword arguments of :class:`LlamaCppEngine` (``n_ctx``, ``n_threads``...)
    still apply.
    """

    name = "embedded"

    def __init__(self, model: str | None = None, **kwargs: Any) -> None:
        _import_llama_cpp()  # fail on the missing package before assembling the GGUF
        from reasonrank.engines.embedded_model import embedded_gguf_path, embedded_model
        from reasonrank.engines.resources import require_free_memory

        spec = embedded_model(model)
        require_free_memory(spec.needs_gb("llamacpp"), f"the {spec.key} model on llama.cpp")
        kwargs.setdefault("model_name", f"{spec.name} (embedded)")
        super().__init__(embedded_gguf_path(model=spec.key), **kwargs)
