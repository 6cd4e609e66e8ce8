"""The OpenAI-compatible engine against a real server started on 127.0.0.1 by the test."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

pytest.importorskip("llama_cpp.server.app")

from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.errors import EngineError
from reasonrank.testing.servers.llama_server import llama_cpp_server
from reasonrank.testing.servers.process import free_port

pytestmark = pytest.mark.embedded

HELLO = ChatRequest.of([{"role": "user", "content": "Say hello in one word."}])


@pytest.fixture(scope="module")
def server_url():
    from reasonrank.engines.embedded_model import embedded_gguf_path

    with llama_cpp_server(embedded_gguf_path()) as url:
        yield url


def test_generates_real_text_with_usage(server_url) -> None:
    engine = OpenAIEngine("embedded", base_url=server_url, max_concurrency=2)
    (gen,) = engine.generate([HELLO], SamplingParams(max_tokens=8))
    assert gen.text.strip()
    assert gen.prompt_tokens > 5 and 0 < gen.completion_tokens <= 8


def test_concurrent_requests_all_return_in_order(server_url) -> None:
    engine = OpenAIEngine("embedded", base_url=server_url, max_concurrency=3)
    reqs = [ChatRequest.of([{"role": "user", "content": f"Repeat the number {i}."}]) for i in range(4)]
    gens = asyncio.run(engine.agenerate(reqs, SamplingParams(max_tokens=4)))
    assert len(gens) == 4 and all(g.completion_tokens > 0 for g in gens)


def test_choice_logprobs_are_normalised(server_url) -> None:
    engine = OpenAIEngine("embedded", base_url=server_url)
    req = ChatRequest.of([{"role": "user", "content": "Is Paris in France? Answer true or false."}])
    (dist,) = engine.choice_logprobs([req], ["true", "false"])
    assert sum(dist.probs.values()) == pytest.approx(1.0)
    assert max(dist.logprobs.values()) > -30


def test_token_counting_through_the_server(server_url) -> None:
    engine = OpenAIEngine("embedded", base_url=server_url)
    text = "Reasoning rerankers read passages carefully."
    n = engine.count_tokens(text)
    assert 4 <= n <= 15
    cut = engine.truncate_tokens(text, 3)
    assert engine.count_tokens(cut) <= 3 and text.startswith(cut)


def test_server_not_running_is_one_clear_error_quickly() -> None:
    port = free_port()  # nothing listens there
    engine = OpenAIEngine("x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(EngineError, match=r"not reachable.*after 3 attempts"):
        engine.generate([HELLO], SamplingParams(max_tokens=2))
    assert time.monotonic() - start < 5


def test_hanging_server_times_out() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # accepts connections, never answers
    try:
        port = sock.getsockname()[1]
        engine = OpenAIEngine("x", base_url=f"http://127.0.0.1:{port}/v1", timeout=0.5, max_retries=1, backoff=0.01)
        with pytest.raises(EngineError, match="timed out after 0.5 s"):
            engine.generate([HELLO], SamplingParams(max_tokens=2))
    finally:
        sock.close()
