"""A scripted engine: a fake LLM whose answers come from a function you give it.

For testing orchestration (window order, batching, repair, fault handling) with known answers.
It is not a model: tests of real behaviour use the tiny transformers model or the embedded one.
Tokens are whitespace-separated words, so budgets behave predictably.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

from reasonrank.engines.base import (
    ChatRequest,
    ChoiceDistribution,
    EncodeRequest,
    Encoding,
    Engine,
    Generation,
    SamplingParams,
)

GenerateFn = Callable[[ChatRequest], str]
LogprobFn = Callable[[ChatRequest, Sequence[str]], dict[str, float]]
EncodeFn = Callable[[EncodeRequest], Encoding]


def word_overlap(request: EncodeRequest) -> Encoding:
    """The scripted encoder's default: a pair scores its number of shared words (a
    cross-encoder); a text embeds as its bag of words hashed into 32 slots (a bi-encoder)."""
    words = request.text.lower().split()
    if request.pair is not None:
        return Encoding(score=float(len(set(words) & set(request.pair.lower().split()))), prompt_tokens=len(words))
    vector = [0.0] * 32
    for word in words:
        vector[sum(map(ord, word)) % 32] += 1.0
    return Encoding(vector=vector, prompt_tokens=len(words))


class ScriptedEngine(Engine):
    """Answers with ``generate_fn(request)`` and ``logprob_fn(request, choices)``.

    Every call is recorded in ``self.calls`` (a list of ``(kind, [requests])``), so tests can
    check what was sent, in which order and in which batches. ``delay_fn(request)`` adds a
    per-request sleep (seconds) to simulate reasoning of varying length in the async path.
    ``encoder_kind`` (``"dense"`` or ``"cross"``) makes it a scripted encoder whose
    :meth:`encode_batch` answers with ``encode_fn`` (default :func:`word_overlap`).
    """

    name = "scripted"

    def __init__(
        self,
        generate_fn: GenerateFn | None = None,
        logprob_fn: LogprobFn | None = None,
        *,
        max_batch_size: int = 64,
        max_concurrency: int = 64,
        delay_fn: Callable[[ChatRequest], float] | None = None,
        model_name: str = "scripted",
        encoder_kind: str | None = None,
        encode_fn: EncodeFn | None = None,
    ) -> None:
        self.encoder_kind = encoder_kind
        self.encode_fn = encode_fn or word_overlap
        self.generate_fn = generate_fn or (lambda r: "")
        self.logprob_fn = logprob_fn
        self.max_batch_size = max_batch_size
        self.max_concurrency = max_concurrency
        self.delay_fn = delay_fn
        self.model_name = model_name
        self.calls: list[tuple[str, list[ChatRequest]]] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight_seen = 0

    def _record(self, kind: str, requests: Sequence[ChatRequest]) -> None:
        with self._lock:
            self.calls.append((kind, list(requests)))

    def _one(self, request: ChatRequest, params: SamplingParams) -> Generation:
        text = self.generate_fn(request)
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        words = text.split()
        finish = "stop"
        if len(words) > params.max_tokens:
            text = " ".join(words[: params.max_tokens])
            finish = "length"
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=self.count_tokens(self.render(request)),
            completion_tokens=min(len(words), params.max_tokens),
        )

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self._record("generate", requests)
        if self.delay_fn:
            time.sleep(max(self.delay_fn(r) for r in requests) if requests else 0)
        return [self._one(r, params) for r in requests]

    async def agenerate(
        self, requests: Sequence[ChatRequest], params: SamplingParams
    ) -> list[Generation]:
        self._record("agenerate", requests)
        with self._lock:
            self.in_flight += len(requests)
            self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        try:
            if self.delay_fn:
                await asyncio.sleep(max(self.delay_fn(r) for r in requests) if requests else 0)
            return [self._one(r, params) for r in requests]
        finally:
            with self._lock:
                self.in_flight -= len(requests)

    def choice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        self._record("choice_logprobs", requests)
        if self.logprob_fn is None:
            raise NotImplementedError("ScriptedEngine was built without a logprob_fn")
        return [
            ChoiceDistribution(
                logprobs=dict(self.logprob_fn(r, choices)),
                prompt_tokens=self.count_tokens(self.render(r)),
            )
            for r in requests
        ]

    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        if self.encoder_kind is None:
            return super().encode_batch(requests)
        self._record("encode", requests)  # type: ignore[arg-type]
        if self.delay_fn:
            time.sleep(max(self.delay_fn(r) for r in requests) if requests else 0)  # type: ignore[arg-type]
        return [self.encode_fn(r) for r in requests]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        words = text.split()
        return text if len(words) <= max_tokens else " ".join(words[:max_tokens])

    def render(self, request: ChatRequest) -> str:
        parts = [f"<|{m['role']}|>\n{m['content']}" for m in request.messages]
        return "\n".join(parts) + "\n<|assistant|>\n" + request.assistant_prefix
