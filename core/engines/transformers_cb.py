"""Continuous batching for the transformers engine: windows of many queries share one running batch.

``TransformersEngine(..., continuous_batching=True)`` hands generation to transformers' own
continuous batching (``model.init_continuous_batching()``: a background thread that runs a paged
KV cache and adds a request to the running batch as soon as it arrives, removing it the step it
ends). :meth:`ContinuousBatcher.agenerate` submits each request to that manager and awaits its
own result, so the scheduler's pipelined ``run_async`` (the ``auto`` schedule picks it because
``max_concurrency > 1``) sends a query's next window the moment its previous one returns: no
window waits for the slowest window of a lockstep "step". This is what vLLM's async engine does
for :class:`~reasonrank.engines.vllm.VLLMEngine` (RankLLM's main branch likewise feeds windows
through a work queue, castorini/rank_llm ``rerank/vllm_handler.py``), on machines with torch and
transformers but no vLLM.

Greedy results equal the plain ``generate`` path token for token (the same model, the same
argmax). Two documented differences: stop strings are applied to the text after the request ends
(transformers' continuous batching has no stop strings, so a request runs on to EOS or its token
cap; ``completion_tokens`` still counts the tokens up to the stop), and the manager serves one
sampling setting at a time (a request with other settings waits for the running ones to finish,
then the manager is rebuilt for it). ``choice_logprobs`` and ``attention`` keep the engine's
ordinary forward passes.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reasonrank.engines.base import ChatRequest, Generation, SamplingParams
from reasonrank.errors import EngineError, EngineUnavailableError

if TYPE_CHECKING:
    from reasonrank.engines.transformers import TransformersEngine

# On CPU transformers sizes the paged cache from free memory (slow to allocate, and most of the
# machine's RAM): a fixed cache of 128 pages x 256 tokens (32k tokens) is plenty for a reranker's
# windows. On GPU the cache takes this share of the memory left after the model.
CPU_DEFAULTS: dict[str, Any] = {"num_blocks": 128, "max_batch_tokens": 2048}
GPU_DEFAULTS: dict[str, Any] = {"max_memory_percent": 0.6}


class ContinuousBatcher:
    """Runs a transformers ``ContinuousBatchingManager`` for one :class:`TransformersEngine`.

    ``options`` go to ``transformers.ContinuousBatchingConfig`` (``num_blocks``,
    ``max_batch_tokens``, ``max_memory_percent``, ``max_requests_per_batch``...); defaults:
    :data:`CPU_DEFAULTS` / :data:`GPU_DEFAULTS`. ``auto_switch_to_flash`` is off by default so
    the model keeps the attention it was loaded with (load it with a flash attention
    implementation, via ``model_kwargs``, to run continuous batching on flash kernels).
    ``max_concurrency`` bounds the requests the scheduler keeps in flight.
    """

    def __init__(self, engine: TransformersEngine, *, max_concurrency: int = 256, **options: Any) -> None:
        try:
            from transformers import ContinuousBatchingConfig
        except ImportError as exc:
            raise EngineUnavailableError(
                f"continuous batching needs transformers >= 5 with ContinuousBatchingConfig ({exc})"
            ) from None
        self.engine = engine
        self.max_concurrency = max_concurrency
        defaults = dict(GPU_DEFAULTS if engine.device.startswith("cuda") else CPU_DEFAULTS)
        if "auto_switch_to_flash" in inspect.signature(ContinuousBatchingConfig).parameters:  # transformers >= 5.2x
            defaults["auto_switch_to_flash"] = False
        self.options: dict[str, Any] = {**defaults, **options}
        self._manager: Any = None
        self._key: tuple[Any, ...] | None = None
        self._in_flight = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._ids = itertools.count()

    # -- the manager ------------------------------------------------------------------------
    @staticmethod
    def _sampling_key(params: SamplingParams) -> tuple[Any, ...]:
        if params.temperature <= 0:
            return ("greedy",)
        return ("sample", params.temperature, params.top_p, params.seed)

    def _build(self, params: SamplingParams) -> Any:
        from transformers import ContinuousBatchingConfig, GenerationConfig

        engine = self.engine
        sampled = params.temperature > 0
        gen = GenerationConfig(
            do_sample=sampled,
            temperature=params.temperature if sampled else None,
            top_p=params.top_p if sampled else None,
            top_k=None,
            max_new_tokens=params.max_tokens,
            eos_token_id=engine._eos_ids(),
            pad_token_id=engine.tokenizer.pad_token_id,
        )
        seed = params.seed if sampled else None
        config = ContinuousBatchingConfig(**{**self.options, **({"seed": seed} if seed is not None else {})})
        torch = engine._torch
        with torch.inference_mode():  # the generation thread inherits the caller's inference mode
            manager = engine.model.init_continuous_batching(generation_config=gen, continuous_batching_config=config)
            manager.start()
        return manager

    def _acquire_running(self, params: SamplingParams) -> Any:
        """The running manager when it serves ``params`` (one request counted in flight), else None."""
        with self._idle:
            manager = self._manager
            if manager is None or self._key != self._sampling_key(params) or not manager.is_running():
                return None
            self._in_flight += 1
            return manager

    def _acquire(self, params: SamplingParams) -> Any:
        """The running manager for ``params`` (one request counted in flight), building it or,
        when the settings changed, rebuilding it once the in-flight requests are done."""
        key = self._sampling_key(params)
        with self._idle:
            while self._key not in (None, key) and self._in_flight:
                self._idle.wait()
            if self._key != key or self._manager is None or not self._manager.is_running():
                self._stop_locked()
                self._manager, self._key = self._build(params), key
            self._in_flight += 1
            return self._manager

    def _release(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def _stop_locked(self) -> None:
        manager, self._manager, self._key = self._manager, None, None
        if manager is not None:
            manager.stop(block=True, timeout=30)
            manager.destroy()

    def close(self) -> None:
        """Stop the manager and free its KV cache (the next request starts a new one)."""
        with self._idle:
            while self._in_flight:
                self._idle.wait()
            self._stop_locked()

    # -- generation -------------------------------------------------------------------------
    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        """Submit every request to the running batch; each returns when its own request ends."""
        prompts = self.engine._encode_prompts(requests)
        return list(await asyncio.gather(*(self._one(ids, params) for ids in prompts)))

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        """Sync twin: all requests go into the running batch at once; returns when all ended."""
        from reasonrank._async import run_coroutine

        return run_coroutine(self.agenerate(requests, params))

    async def _one(self, prompt: list[int], params: SamplingParams) -> Generation:
        engine = self.engine
        max_new = params.max_tokens
        if engine.max_context:
            max_new = max(1, min(max_new, engine.max_context - len(prompt)))
        # Building the manager (and waiting for another sampling setting to drain) blocks: in a thread.
        manager = self._acquire_running(params) or await asyncio.to_thread(self._acquire, params)
        try:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[Any] = loop.create_future()

            def deliver(output: Any) -> None:
                if output.is_finished() and not done.done():
                    done.set_result(output)

            request_id = f"rr-{next(self._ids)}"
            started = time.perf_counter()
            # The handler must exist before the request does, or its result goes to the shared queue.
            manager.register_result_handler(request_id, deliver)
            if manager.add_request(prompt, request_id=request_id, max_new_tokens=max_new,
                                   eos_token_id=engine._eos_ids()) is None:
                raise EngineError("the continuous batching manager refused the request (stopping or full)")
            while not done.done():
                # A crashed generation thread never answers: check on it while waiting.
                await asyncio.wait({done}, timeout=1.0)
                if not done.done() and not manager.is_running():
                    fatal = getattr(getattr(manager, "background_thread_status", None), "fatal_error", None)
                    raise EngineError(f"transformers continuous batching stopped: {fatal}")
            output = done.result()
        finally:
            self._release()
        if output.error is not None:
            raise EngineError(f"transformers continuous batching failed: {output.error}")
        return self._generation(list(output.generated_tokens), len(prompt), max_new, params,
                                time.perf_counter() - started)

    def _generation(self, tokens: list[int], prompt_tokens: int, max_new: int, params: SamplingParams,
                    seconds: float) -> Generation:
        """Text and counts as the plain path reports them (EOS dropped, stop strings applied)."""
        tok = self.engine.tokenizer
        eos = set(self.engine._eos_ids()) | {tok.pad_token_id}
        ended = False
        for cut, token in enumerate(tokens):
            if token in eos:
                tokens, ended = tokens[:cut], True
                break
        text = tok.decode(tokens, skip_special_tokens=True)
        stops = [at for at in (text.find(s) for s in params.stop) if at >= 0]
        if stops:
            text, ended = text[: min(stops)], True
            tokens = tokens[: self._tokens_before_stop(tokens, params.stop)]
        return Generation(
            text=text,
            finish_reason="stop" if ended or len(tokens) < max_new else "length",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(tokens),
            seconds=seconds,
        )

    def _tokens_before_stop(self, tokens: list[int], stop: Sequence[str]) -> int:
        """The fewest leading tokens whose text contains a stop string (what a stop-string
        criterion would have generated): binary search over decoded prefixes."""
        decode = self.engine.tokenizer.decode
        lo, hi = 1, len(tokens)
        while lo < hi:
            mid = (lo + hi) // 2
            text = decode(tokens[:mid], skip_special_tokens=True)
            if any(s in text for s in stop):
                hi = mid
            else:
                lo = mid + 1
        return hi
