"""A LlamaIndex LLM over any reasonrank engine, so a RAG app can answer with the same embedded
CPU model that reranks (one model in memory, no server, no API key)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from reasonrank.engines.base import ChatRequest, Engine, Generation, SamplingParams


class ReasonRankLLM(CustomLLM):
    """Chat/completion LLM backed by a reasonrank engine (the embedded model by default).

    Usage::

        reranker = ReasonRankRerank(top_n=3)
        llm = ReasonRankLLM(engine=reranker.reranker.engine)   # share the reranker's model
        query_engine = index.as_query_engine(llm=llm, node_postprocessors=[reranker])
    """

    engine_name: str = Field(default="embedded", description="Engine name used when none is passed.")
    model: str | None = Field(default=None, description="Model name or path for the engine.")
    max_tokens: int = Field(default=256, gt=0, description="Maximum number of generated tokens.")
    temperature: float = Field(default=0.0, ge=0.0, description="Sampling temperature (0 = greedy).")
    context_window: int = Field(default=4096, gt=0, description="Context window told to LlamaIndex.")

    _engine: Engine | None = PrivateAttr(default=None)

    def __init__(self, *, engine: Engine | str | None = None, **data: Any) -> None:
        if isinstance(engine, str):
            data["engine_name"] = engine
        super().__init__(**data)
        if isinstance(engine, Engine):
            self._engine = engine

    @classmethod
    def class_name(cls) -> str:
        return "ReasonRankLLM"

    @property
    def engine(self) -> Engine:
        """The engine (built on first use when none was passed)."""
        if self._engine is None:
            from reasonrank.engines import create_engine

            options = {"model": self.model} if self.model else {}
            self._engine = create_engine(self.engine_name, **options)
        return self._engine

    @property
    def metadata(self) -> LLMMetadata:
        engine = self._engine
        window = (engine.max_context if engine is not None else None) or self.context_window
        return LLMMetadata(
            context_window=window,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=engine.model_name if engine is not None else (self.model or self.engine_name),
        )

    # -- helpers -----------------------------------------------------------------------------
    def _params(self, kwargs: dict[str, Any]) -> SamplingParams:
        return SamplingParams(
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            temperature=float(kwargs.get("temperature", self.temperature)),
        )

    @staticmethod
    def _chat_request(messages: Sequence[ChatMessage]) -> ChatRequest:
        roles = {MessageRole.SYSTEM: "system", MessageRole.ASSISTANT: "assistant"}
        return ChatRequest.of(
            [{"role": roles.get(m.role, "user"), "content": m.content or ""} for m in messages]
        )

    @staticmethod
    def _completion(gen: Generation) -> CompletionResponse:
        return CompletionResponse(text=gen.text.strip(), raw={"finish_reason": gen.finish_reason})

    @staticmethod
    def _chat(gen: Generation) -> ChatResponse:
        message = ChatMessage(role=MessageRole.ASSISTANT, content=gen.text.strip())
        return ChatResponse(message=message, raw={"finish_reason": gen.finish_reason})

    # -- LLM API -----------------------------------------------------------------------------
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        request = ChatRequest.of([{"role": "user", "content": prompt}])
        return self._completion(self.engine.generate([request], self._params(kwargs))[0])

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        request = ChatRequest.of([{"role": "user", "content": prompt}])
        return self._completion((await self.engine.agenerate([request], self._params(kwargs)))[0])

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        # Engines do not stream; yield the whole completion as one chunk.
        response = self.complete(prompt, formatted=formatted, **kwargs)
        yield CompletionResponse(text=response.text, delta=response.text, raw=response.raw)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        gen = self.engine.generate([self._chat_request(messages)], self._params(kwargs))[0]
        return self._chat(gen)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        gen = (await self.engine.agenerate([self._chat_request(messages)], self._params(kwargs)))[0]
        return self._chat(gen)
