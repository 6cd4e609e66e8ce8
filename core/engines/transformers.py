"""Hugging Face ``transformers`` engine: plain causal LMs on CPU or GPU.

Batched generation with left padding (so every prompt ends where generation starts), stop
strings, greedy or sampled decoding, and exact choice scoring: single-token choices from one
forward pass, multi-token choices (e.g. "10" under Qwen's per-digit tokenizer) by teacher forcing.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from reasonrank.engines.base import (
    AttentionReadout,
    AttentionRequest,
    ChatRequest,
    ChoiceDistribution,
    Engine,
    Generation,
    SamplingParams,
)
from reasonrank.engines.hf_tokenizer import HFTokenizerMixin
from reasonrank.errors import EngineError, EngineUnavailableError, PromptTooLongError


def _resolve_dtype(torch: Any, dtype: str, device: str) -> Any:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise ValueError(f"unknown dtype {dtype!r}") from None


class TransformersEngine(HFTokenizerMixin, Engine):
    """A causal LM loaded with ``AutoModelForCausalLM``.

    Parameters
    ----------
    model:
        Local folder or hub id (``gguf_file`` loads a GGUF inside that folder, de-quantized).
    device:
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when available.
    dtype:
        ``"auto"`` (bfloat16 on GPU, float32 on CPU), or a torch dtype name.
    max_batch_size:
        Prompts per forward batch.
    max_context:
        Context limit; default: the config's ``max_position_embeddings``.
    chat_template_kwargs:
        Passed to ``apply_chat_template`` (e.g. ``{"enable_thinking": False}``).
    continuous_batching:
        ``True`` (or a dict of ``transformers.ContinuousBatchingConfig`` options, plus
        ``max_concurrency``) runs generation on transformers' continuous batching with a paged KV
        cache: requests join the running batch as they arrive, and rerankers pipeline the windows
        of many queries (see :mod:`reasonrank.engines.transformers_cb`). Default: plain batched
        ``generate`` (lockstep per call).
    """

    name = "transformers"
    _batcher: Any = None  # a ContinuousBatcher when continuous_batching is on

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        max_batch_size: int = 8,
        max_context: int | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        gguf_file: str | None = None,
        continuous_batching: bool | dict[str, Any] = False,
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise EngineUnavailableError(
                f"the transformers engine needs torch and transformers: pip install 'reasonrank[transformers]' ({exc})"
            ) from None
        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model_name = model
        self.max_batch_size = max_batch_size
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        extra: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if gguf_file:
            extra["gguf_file"] = gguf_file
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, **extra)
            loaded: Any = AutoModelForCausalLM.from_pretrained(
                model, dtype=_resolve_dtype(torch, dtype, self.device), **extra, **(model_kwargs or {})
            )
            self.model = loaded.to(self.device)
        except (OSError, ValueError) as exc:
            raise EngineUnavailableError(f"could not load model {model!r}: {exc}") from None
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_context = max_context or getattr(self.model.config, "max_position_embeddings", None)
        self._lock = threading.Lock()
        if continuous_batching:
            from reasonrank.engines.transformers_cb import ContinuousBatcher

            cb_options = continuous_batching if isinstance(continuous_batching, dict) else {}
            self._batcher = ContinuousBatcher(self, **cb_options)
            self.max_concurrency = self._batcher.max_concurrency

    # -- helpers ----------------------------------------------------------------------------
    def _encode_prompts(self, requests: Sequence[ChatRequest]) -> list[list[int]]:
        """Token ids of each rendered prompt (the template already holds the special tokens)."""
        encoded = [self.encode(self.render(r)) for r in requests]
        if self.max_context:
            for ids in encoded:
                if len(ids) >= self.max_context:
                    raise PromptTooLongError(
                        f"prompt has {len(ids)} tokens; {self.model_name} takes {self.max_context}"
                    )
        return encoded

    def _left_pad(self, rows: list[list[int]]) -> tuple[Any, Any]:
        torch = self._torch
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
                mask[i, width - len(row):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif gen_eos:
            ids.update(gen_eos)
        return [i for i in ids if i is not None]

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        if self._batcher is not None:
            return self._batcher.generate(requests, params)
        out: list[Generation] = []
        for start in range(0, len(requests), self.max_batch_size):
            out.extend(self._generate_batch(list(requests[start : start + self.max_batch_size]), params))
        return out

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        if self._batcher is not None:
            return await self._batcher.agenerate(requests, params)
        return await super().agenerate(requests, params)

    def _generate_batch(self, requests: list[ChatRequest], params: SamplingParams) -> list[Generation]:
        if not requests:
            return []
        torch = self._torch
        prompts = self._encode_prompts(requests)
        ids, mask = self._left_pad(prompts)
        max_new = params.max_tokens
        if self.max_context:
            max_new = max(1, min(max_new, self.max_context - ids.shape[1]))
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self._eos_ids(),
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        started = time.perf_counter()
        try:
            with self._lock, torch.inference_mode():
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                output = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        except RuntimeError as exc:
            raise EngineError(f"transformers generation failed: {exc}") from exc
        seconds = time.perf_counter() - started
        eos = set(self._eos_ids()) | {self.tokenizer.pad_token_id}
        results = []
        for row, prompt in zip(output, prompts, strict=True):
            new = row[ids.shape[1]:].tolist()
            ended = False
            for cut, tok in enumerate(new):
                if tok in eos:
                    new, ended = new[:cut], True
                    break
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            for stop in params.stop:
                at = text.find(stop)
                if at >= 0:
                    text, ended = text[:at], True
            results.append(
                Generation(
                    text=text,
                    finish_reason="stop" if ended or len(new) < max_new else "length",
                    prompt_tokens=len(prompt),
                    completion_tokens=len(new),
                    seconds=seconds / len(requests),
                )
            )
        return results

    # -- scoring ----------------------------------------------------------------------------
    def choice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        if not choices:
            raise ValueError("choices must not be empty")
        choice_ids = [self.encode(c) for c in choices]
        if any(not ids for ids in choice_ids):
            raise ValueError("a choice encodes to no tokens")
        out: list[ChoiceDistribution] = []
        for start in range(0, len(requests), self.max_batch_size):
            out.extend(self._score_batch(list(requests[start : start + self.max_batch_size]), choices, choice_ids))
        return out

    def _score_batch(
        self, requests: list[ChatRequest], choices: Sequence[str], choice_ids: list[list[int]]
    ) -> list[ChoiceDistribution]:
        torch = self._torch
        prompts = self._encode_prompts(requests)
        started = time.perf_counter()
        multi = [k for k, ids in enumerate(choice_ids) if len(ids) > 1]
        with self._lock, torch.inference_mode():
            ids, mask = self._left_pad(prompts)
            # logits_to_keep: the LM head runs on the last position only. Without it the model
            # materializes batch x prompt x vocab logits (7 passages x 5k tokens x 152k vocab
            # in float32 = 21 GB: the main test suite was OOM-killed on 24 GB, issue 30).
            logits = self.model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, :].float()
            first = torch.log_softmax(logits, dim=-1)
            scores = [
                {c: float(first[i, choice_ids[k][0]]) for k, c in enumerate(choices)} for i in range(len(prompts))
            ]
            # Multi-token choices: the exact sequence log-probability, by teacher forcing.
            if multi:
                rows = [p + choice_ids[k] for p in prompts for k in multi]
                full_ids, full_mask = self._left_pad(rows)
                # Only the last positions predict choice tokens: slice before the softmax so
                # memory stays O(batch x choice length x vocab), not O(batch x prompt x vocab).
                span = max(len(choice_ids[k]) for k in multi)
                logits = self.model(input_ids=full_ids, attention_mask=full_mask,
                                    logits_to_keep=span + 1).logits[:, -(span + 1):, :]
                logp = torch.log_softmax(logits.float(), -1)
                for n, row in enumerate(rows):
                    i, k = divmod(n, len(multi))
                    k = multi[k]
                    tail = len(choice_ids[k])
                    total = 0.0
                    for j in range(tail):
                        # logp[:, t] predicts the token after sliced position t; the choice's
                        # j-th token sits at slice index span + 1 - tail + j.
                        total += float(logp[n, span - tail + j, row[len(row) - tail + j]])
                    scores[i][choices[k]] = total
        seconds = time.perf_counter() - started
        return [
            ChoiceDistribution(
                logprobs={c: (v if math.isfinite(v) else -math.inf) for c, v in s.items()},
                prompt_tokens=len(p),
                seconds=seconds / len(prompts),
            )
            for s, p in zip(scores, prompts, strict=True)
        ]

    # -- attention (ICR) --------------------------------------------------------------------
    supports_attention = True

    def attention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        from reasonrank.engines.hf_attention import attention_readouts

        try:
            return attention_readouts(self, requests)
        except RuntimeError as exc:
            raise EngineError(f"transformers attention readout failed: {exc}") from exc

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
        model = self.__dict__.pop("model", None)
        if model is not None:
            del model
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()
