"""Prompt rendering and token counting with a Hugging Face tokenizer.

Shared by every engine that has the model's HF tokenizer at hand (transformers, vLLM, and the
OpenAI-compatible client when given a tokenizer), so all of them render the same prompt.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reasonrank.engines.base import ChatRequest, defang_messages


def render_chat(tokenizer: Any, request: ChatRequest, chat_template_kwargs: Mapping[str, Any] = {}) -> str:
    """The prompt text of ``request`` under ``tokenizer``'s chat template: control tokens in the
    messages defanged, the generation prompt added, and the assistant prefix appended."""
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if len(t) > 2]
    text = tokenizer.apply_chat_template(
        defang_messages(request.messages, specials),
        tokenize=False,
        add_generation_prompt=True,
        **dict(chat_template_kwargs),
    )
    return str(text) + request.assistant_prefix


class HFTokenizerMixin:
    """Implements ``render``/``count_tokens``/``truncate_tokens`` over ``self.tokenizer``.

    ``chat_template_kwargs`` are passed to ``apply_chat_template`` (e.g. ``enable_thinking``).
    """

    tokenizer: Any
    chat_template_kwargs: Mapping[str, Any] = {}

    def render(self, request: ChatRequest) -> str:
        return render_chat(self.tokenizer, request, self.chat_template_kwargs)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        return self.tokenizer.decode(ids[:max_tokens], skip_special_tokens=False)

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """:meth:`truncate_tokens` of every text with one batched encode (fast tokenizers run
        the batch in Rust)."""
        if not texts:
            return []
        batch = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [
            text if len(ids) <= max_tokens else self.tokenizer.decode(ids[:max_tokens], skip_special_tokens=False)
            for text, ids in zip(texts, batch)
        ]
