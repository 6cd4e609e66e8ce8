"""Helpers of the scheduling tests: one-message requests whose scripted answer is their text in
capitals, and the sampling settings they run with."""
from __future__ import annotations

from reasonrank.engines.base import ChatRequest, SamplingParams

P = SamplingParams(max_tokens=8)


def req(text: str) -> ChatRequest:
    """A request of one user message, ``text``."""
    return ChatRequest.of([{"role": "user", "content": text}])


def shout(request: ChatRequest) -> str:
    """A scripted engine's answer: the request's (first) message in capitals."""
    return request.messages[0]["content"].upper()
