"""The engine protocol: what every LLM backend offers the ranking methods.

Engines know nothing of ranking. They take chat requests and return either generated text
(:meth:`Engine.generate`) or a probability distribution over a few given choice strings at the
next position (:meth:`Engine.choice_logprobs`, for Rank1's true/false and ERank's 0-10).
Both have async twins. Engines that can read a model's attention (``supports_attention``) also
offer :meth:`Engine.attention` (for attention-based reranking, ICR). Encoder engines
(``encoder_kind``: a bi-encoder that embeds texts, or a cross-encoder that scores pairs) offer
:meth:`Engine.encode_batch` (the cheap ``dense`` and ``cross`` methods). Backends: ``transformers``,
``vllm``, ``openai`` (any OpenAI-compatible server), ``llamacpp`` (the embedded LLM),
``sentence-transformers`` (encoders) and ``scripted`` (a fake for tests).
"""
from __future__ import annotations

import asyncio
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

Message = Mapping[str, str]


@dataclass(frozen=True)
class ChatRequest:
    """One conversation to continue.

    ``messages`` are ``{"role", "content"}`` dicts (system/user/assistant). The engine renders
    them with the model's chat template and an open assistant turn; ``assistant_prefix`` is text
    the assistant turn already starts with (Rank1 starts its answer with ``<think>``; a forced
    answer continues after ``</think>``). Generated text never includes the prefix.
    """

    messages: tuple[Message, ...]
    assistant_prefix: str = ""

    @classmethod
    def of(cls, messages: Sequence[Message], assistant_prefix: str = "") -> ChatRequest:
        return cls(tuple(dict(m) for m in messages), assistant_prefix)


@dataclass(frozen=True)
class SamplingParams:
    """Generation settings. ``temperature=0`` means greedy, as in the official inference code."""

    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass
class Generation:
    """The continuation of one request (without the assistant prefix and the stop string)."""

    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length" (max_tokens reached)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False  # served by the reply cache (no engine work)
    #: Set by the forced-answer wrapper (:mod:`reasonrank.scheduling.forcing`): the text it
    #: inserted to close a thought cut by the budget and open the answer (None: not forced) ...
    forced: str | None = None
    #: ... and the tokens inside the thought (None: no wrapper counted them).
    thinking_tokens: int | None = None


@dataclass
class ChoiceDistribution:
    """Log-probabilities of each choice string as the continuation of one request.

    ``logprobs[c]`` is ``log p(c | prompt)`` (``-inf`` where the engine saw no mass for it);
    ``probs`` is the same distribution renormalised over the given choices only.
    """

    logprobs: dict[str, float]
    probs: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False  # served by the reply cache (no engine work)

    def __post_init__(self) -> None:
        if not self.probs:
            self.probs = normalize_logprobs(self.logprobs)


@dataclass(frozen=True)
class AttentionRequest:
    """Read how much attention the end of a user message pays to its earlier parts.

    The user message is ``"".join(segments) + probe``, rendered with the chat template (and
    ``system``). For every probe (e.g. the real query and a content-free "N/A"), the engine
    reports, per segment, one weight per token: the attention the probe's tokens (the probe and
    the template's closing tokens after it) pay to that token, averaged over the probe's tokens
    and summed over layers and heads. The segments' tokens are shared by all probes (one
    forward pass over them; each probe continues it). Each segment is tokenized on its own, so
    its tokens are exactly its own; control tokens inside segments and probes are neutralised.
    """

    segments: tuple[str, ...]
    probes: tuple[str, ...]
    system: str | None = None
    #: Layers summed (0-based; negative ones count from the last); None: all of them.
    layers: tuple[int, ...] | None = None


@dataclass
class AttentionReadout:
    """The answer to one :class:`AttentionRequest`: ``weights[p][s][t]`` is the attention paid by
    probe ``p`` to token ``t`` of segment ``s``; ``tokens[s]`` the segment's token strings."""

    weights: list[list[list[float]]]
    tokens: list[list[str]]
    prompt_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False  # served by the reply cache (no engine work)


#: The roles an embedded text can play: a model's own query/passage prompts depend on it.
ROLES = ("query", "passage")


@dataclass(frozen=True)
class EncodeRequest:
    """One input of an encoder model: embed ``text`` (a bi-encoder; ``role`` picks the model's
    query or passage prompt, e.g. e5's ``query: ``), or score the pair (``text``, ``pair``) — a
    query and a passage — with a cross-encoder."""

    text: str
    pair: str | None = None
    role: str = "passage"


@dataclass
class Encoding:
    """The answer to one :class:`EncodeRequest`: the embedding (``vector``) of a bi-encoder or
    the relevance logit (``score``) of a cross-encoder. ``prompt_tokens`` counts the input's
    tokens as the model saw them; ``truncated`` says the input was longer than the model's maximum."""

    vector: list[float] = field(default_factory=list)
    score: float | None = None
    prompt_tokens: int = 0
    truncated: bool = False
    seconds: float = 0.0
    cached: bool = False  # served by the reply cache (no engine work)


def normalize_logprobs(logprobs: Mapping[str, float]) -> dict[str, float]:
    """Softmax over the given choices' log-probabilities (log-sum-exp, stable).

    If no choice got any mass (all ``-inf``), the result is uniform: the caller decides whether
    that deserves a warning.
    """
    if not logprobs:
        return {}
    finite = [v for v in logprobs.values() if v != -math.inf and not math.isnan(v)]
    if not finite:
        return {k: 1.0 / len(logprobs) for k in logprobs}
    top = max(finite)
    weights = {k: (math.exp(v - top) if v in finite else 0.0) for k, v in logprobs.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


# Chat-template control tokens written as text: ChatML/Qwen `<|im_end|>`, Llama-3 `<|eot_id|>`,
# `<|endoftext|>`... A passage that contains one must not close the turn when the rendered prompt
# is tokenized (tokenizers parse such strings as the special token by default).
_CONTROL_TOKEN = re.compile(r"<\|([A-Za-z0-9_]{1,40})\|>")
_DEFANG = "<\u200b|"  # a zero-width space keeps the text readable but no longer a control token


def defang_control_tokens(text: str, extra: Sequence[str] = ()) -> str:
    """``text`` with chat control tokens neutralised (``<|im_end|>`` -> ``<\u200b|im_end|>``).

    ``extra`` lists a tokenizer's own special tokens of other shapes (``</s>``, ``[INST]``).
    """
    text = _CONTROL_TOKEN.sub(lambda m: f"{_DEFANG}{m.group(1)}|>", text)
    for token in extra:
        if token and token in text:
            text = text.replace(token, token[0] + "\u200b" + token[1:])
    return text


def defang_messages(messages: Sequence[Message], extra: Sequence[str] = ()) -> list[dict[str, str]]:
    """Messages whose contents cannot smuggle control tokens into the rendered prompt."""
    return [{**dict(m), "content": defang_control_tokens(m["content"], extra)} for m in messages]


class Engine(ABC):
    """A text-generation backend. Subclasses implement :meth:`generate`,
    :meth:`choice_logprobs`, :meth:`count_tokens`, :meth:`truncate_tokens` and :meth:`render`.

    ``max_batch_size`` tells the methods how many requests the engine wants in one call (sync
    engines batch inside one call); ``max_concurrency`` how many async calls may be in flight.
    """

    name: str = "engine"
    model_name: str = "unknown"
    max_context: int | None = None
    max_batch_size: int = 1
    max_concurrency: int = 1

    # -- generation -------------------------------------------------------------------------
    @abstractmethod
    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        """Continue every request; results are in request order."""

    async def agenerate(
        self, requests: Sequence[ChatRequest], params: SamplingParams
    ) -> list[Generation]:
        """Async :meth:`generate`. The default runs the sync call in a worker thread."""
        return await asyncio.to_thread(self.generate, list(requests), params)

    # -- scoring ----------------------------------------------------------------------------
    @abstractmethod
    def choice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        """Distribution over ``choices`` as the next text of each request."""

    async def achoice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        return await asyncio.to_thread(self.choice_logprobs, list(requests), list(choices))

    # -- attention --------------------------------------------------------------------------
    supports_attention: bool = False

    def attention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        """Attention readouts (see :class:`AttentionRequest`); engines that cannot read
        attention weights raise :class:`~reasonrank.errors.EngineUnavailableError`."""
        from reasonrank.errors import EngineUnavailableError

        raise EngineUnavailableError(
            f"the {self.name} engine does not expose attention weights; use engine "
            "'embedded-hf' (the embedded model in transformers) or 'transformers'"
        )

    async def aattention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        return await asyncio.to_thread(self.attention, list(requests))

    # -- encoders ---------------------------------------------------------------------------
    #: ``"dense"`` (a bi-encoder: :meth:`encode_batch` embeds texts), ``"cross"`` (a cross-encoder:
    #: :meth:`encode_batch` scores pairs) or None (a generative model).
    encoder_kind: str | None = None

    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        """Embeddings or pair scores (see :class:`EncodeRequest`); engines that are not encoders
        raise :class:`~reasonrank.errors.EngineUnavailableError`."""
        from reasonrank.errors import EngineUnavailableError

        raise EngineUnavailableError(
            f"the {self.name} engine is not an encoder model; the dense and cross methods run on "
            "engine 'sentence-transformers'"
        )

    async def aencode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        return await asyncio.to_thread(self.encode_batch, list(requests))

    # -- tokens -----------------------------------------------------------------------------
    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` in the model's tokenizer (no special tokens added)."""

    @abstractmethod
    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        """``text`` cut to at most ``max_tokens`` tokens of the model's tokenizer."""

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """:meth:`truncate_tokens` of every text (engines batch it where they can)."""
        return [self.truncate_tokens(t, max_tokens) for t in texts]

    async def atruncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Async :meth:`truncate_many`; the default runs it in a worker thread, a served engine
        tokenizes concurrently on its server."""
        return await asyncio.to_thread(self.truncate_many, list(texts), max_tokens)

    @abstractmethod
    def render(self, request: ChatRequest) -> str:
        """The exact prompt string the model sees (chat template applied, prefix appended)."""

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Release the model / connections. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """Small JSON-ready description (engine name, model) for results and logs."""
        return {"engine": self.name, "model": self.model_name, "max_context": self.max_context}
