"""Engine factories for ``reasonrank serve --engine-factory
reasonrank.testing.scripted_engines:NAME`` (tests and the service load benchmark). Scripted
engines are fakes: they test the service's orchestration; the tiny transformers model tests the
real path."""
from __future__ import annotations

import re

from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine

_NUM = re.compile(r"provide you with (\d+) passages")


def reverse_window(request: ChatRequest) -> str:
    """A listwise answer ranking the window back to front: ``[n] > ... > [1]``."""
    match = _NUM.search(request.messages[-1]["content"])
    n = int(match.group(1)) if match else 1
    return "<think>later passages first</think><answer>" + " > ".join(f"[{i}]" for i in range(n, 0, -1)) + "</answer>"


def batching() -> ScriptedEngine:
    """A sync batch engine (like transformers/vLLM offline) whose calls take 100 ms."""
    return ScriptedEngine(reverse_window, max_batch_size=16, max_concurrency=1, delay_fn=lambda r: 0.1)


def serial() -> ScriptedEngine:
    """A sync engine at capacity: one window per call, 50 ms each (the cost-controls benchmark:
    work the cache saves is time the engine gets back)."""
    return ScriptedEngine(reverse_window, max_batch_size=1, max_concurrency=1, delay_fn=lambda r: 0.05)


def instant() -> ScriptedEngine:
    """A sync batch engine that answers at once: the service's own overhead per request."""
    return ScriptedEngine(reverse_window, max_batch_size=64, max_concurrency=1)


def instant_async() -> ScriptedEngine:
    """An async engine (like an OpenAI-compatible server) that answers at once."""
    return ScriptedEngine(reverse_window, max_batch_size=1, max_concurrency=64)


def slow() -> ScriptedEngine:
    """A sync batch engine whose calls take a second (graceful-shutdown test)."""
    return ScriptedEngine(reverse_window, max_batch_size=8, max_concurrency=1, delay_fn=lambda r: 1.0)
