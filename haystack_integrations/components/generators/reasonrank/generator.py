"""A small Haystack generator over any reasonrank engine, so a RAG pipeline can answer with the
same embedded CPU model that reranks (no API key, no server). Lives under
``haystack_integrations.*`` so pipeline YAML loads it without an allowlist (see the ranker)."""
from __future__ import annotations

from typing import Any

from haystack import component
from haystack.utils import Secret

from haystack_integrations.components.rankers.reasonrank.ranker import (
    DEFAULT_KEY,
    from_dict_with_key,
    to_dict_with_key,
)
from reasonrank.engines import create_engine
from reasonrank.engines.base import ChatRequest, Engine, SamplingParams
from reasonrank.secret import as_secret
from reasonrank.secrets import KEY_OPTION, KEYED_ENGINES, pop_key


@component
class ReasonRankGenerator:
    """Generates text for a prompt with a reasonrank engine (the embedded model by default).

    ### Usage example

    ```python
    from haystack_reasonrank import ReasonRankGenerator

    gen = ReasonRankGenerator(max_tokens=64)
    gen.warm_up()
    print(gen.run(prompt="Say hello.")["replies"][0])
    ```
    """

    def __init__(
        self,
        *,
        engine: str = "embedded",
        model: str | None = None,
        base_url: str | None = None,
        engine_options: dict[str, Any] | None = None,
        system_prompt: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        engine_instance: Engine | None = None,
        api_key: Secret | None = DEFAULT_KEY,
    ) -> None:
        """
        :param engine: Engine name (embedded, transformers, vllm, openai, llamacpp).
        :param model: Model name or path for the engine (the embedded engine has its own).
        :param base_url: Base URL of an OpenAI-compatible server (engine="openai").
        :param engine_options: Extra keyword arguments for the engine.
        :param system_prompt: Optional system message sent before the prompt.
        :param max_tokens: Maximum number of generated tokens.
        :param temperature: Sampling temperature (0 = greedy).
        :param engine_instance: An already built engine to share (not serialized).
        :param api_key: The API key of an OpenAI-compatible server, a Haystack `Secret` (default:
            env `REASONRANK_API_KEY` or `OPENAI_API_KEY`); never serialized in clear.
        :raises ValueError: If `max_tokens` < 1 or `temperature` < 0.
        """
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature)
        self.engine = engine
        self.model = model
        self.base_url = base_url
        self.engine_options, moved = pop_key(engine_options, "ReasonRankGenerator")
        self.api_key = Secret.from_token(moved) if moved is not None else api_key
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._engine = engine_instance

    def warm_up(self) -> None:
        """Load the engine's model. Idempotent."""
        if self._engine is None:
            options = dict(self.engine_options or {})
            if self.model is not None:
                options["model"] = self.model
            if self.base_url is not None:
                options["base_url"] = self.base_url
            key = as_secret(self.api_key)  # the core Secret: resolved by the engine per request
            if key is not None and self.engine in KEYED_ENGINES:
                options.setdefault(KEY_OPTION, key)
            self._engine = create_engine(self.engine, **options)

    def use_engine(self, engine: Engine) -> None:
        """Answer with an already loaded engine (e.g. the ranker's), instead of loading one."""
        self._engine = engine

    def close(self) -> None:
        """Release the engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def to_dict(self) -> dict[str, Any]:
        """Serializes the component (an injected `engine_instance` is not serialized)."""
        return to_dict_with_key(
            self,
            engine=self.engine,
            model=self.model,
            base_url=self.base_url,
            engine_options=self.engine_options,
            system_prompt=self.system_prompt,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReasonRankGenerator:
        """Deserializes the component from a dictionary."""
        return from_dict_with_key(cls, data)

    def _request(self, prompt: str) -> ChatRequest:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return ChatRequest.of([*messages, {"role": "user", "content": prompt}])

    @staticmethod
    def _output(gen: Any, model: str) -> dict[str, Any]:
        meta = {
            "model": model,
            "finish_reason": gen.finish_reason,
            "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens},
        }
        return {"replies": [gen.text.strip()], "meta": [meta]}

    @component.output_types(replies=list[str], meta=list[dict[str, Any]])
    def run(self, prompt: str) -> dict[str, Any]:
        """Generate one reply for `prompt`.

        :returns: `replies`: a one-element list with the generated text; `meta`: model,
            finish reason and token usage.
        """
        self.warm_up()
        assert self._engine is not None
        gen = self._engine.generate([self._request(prompt)], self.params)[0]
        return self._output(gen, self._engine.model_name)

    @component.output_types(replies=list[str], meta=list[dict[str, Any]])
    async def run_async(self, prompt: str) -> dict[str, Any]:
        """Async :meth:`run`."""
        self.warm_up()
        assert self._engine is not None
        gen = (await self._engine.agenerate([self._request(prompt)], self.params))[0]
        return self._output(gen, self._engine.model_name)
