"""Engine faults against a real local server: one clear error, or the input order with a
warning under on_error="keep_order"; bounded retries; never a lost or duplicated candidate."""
from __future__ import annotations

import json

import pytest
from reasonrank.cli import main
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.errors import EngineError
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.testing.servers.fault_server import fault_server
from reasonrank.testing.servers.process import free_port

pytestmark = pytest.mark.reliability

DOCS = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(12)]
IDS = [d["id"] for d in DOCS]


class CountingWords:
    """The OpenAI engine needs token counts; a word tokenizer keeps these tests server-only."""

    @staticmethod
    def patch(engine: OpenAIEngine) -> OpenAIEngine:
        engine._tokenize = lambda text: text.split()  # type: ignore[method-assign]
        engine.truncate_tokens = lambda text, n: " ".join(text.split()[:n])  # type: ignore[method-assign]
        return engine


def reranker(url: str, on_error: str = "raise", **kw) -> ListwiseReranker:
    engine = CountingWords.patch(OpenAIEngine("m", base_url=url, max_retries=2, backoff=0.01, **kw))
    return ListwiseReranker(engine, window_size=20, on_error=on_error)


def test_ok_server_reverses_the_list() -> None:
    with fault_server("ok") as (url, state):
        result = reranker(url).rerank("q", DOCS)
    assert result.ids == IDS[::-1] and state.requests == 1 and not result.warnings


def test_429_then_ok_is_retried_once() -> None:
    with fault_server("429_then_ok") as (url, state):
        result = reranker(url).rerank("q", DOCS)
    assert result.ids == IDS[::-1] and state.requests == 2


@pytest.mark.parametrize("mode,message", [
    ("500", "HTTP 500"),
    ("malformed_json", "malformed JSON"),
    ("empty", "empty completion"),
])
def test_bad_server_raises_one_clear_error(mode: str, message: str) -> None:
    with fault_server(mode) as (url, state), pytest.raises(EngineError, match=message):
        reranker(url).rerank("q", DOCS)
    # Retries are bounded: 500 is retried max_retries times, the others are not retried.
    assert state.requests == (3 if mode == "500" else 1)


@pytest.mark.parametrize("mode", ["500", "malformed_json", "empty", "hang", "die_after:0"])
def test_keep_order_returns_input_order_with_a_warning(mode: str) -> None:
    with fault_server(mode) as (url, _state):
        result = reranker(url, on_error="keep_order", timeout=0.5).rerank("q", DOCS)
    assert result.ids == IDS
    assert result.warnings and any("engine error" in w or "kept" in w for w in result.warnings)


def test_server_dies_mid_batch_only_the_affected_queries_fall_back() -> None:
    with fault_server("die_after:2") as (url, _state):
        results = reranker(url, on_error="keep_order", max_concurrency=1).rerank_batch(
            [(f"q{i}", DOCS) for i in range(4)]
        )
    for r in results:
        assert sorted(r.ids) == sorted(IDS)
    reversed_ = [r for r in results if r.ids == IDS[::-1]]
    kept = [r for r in results if r.ids == IDS and r.warnings]
    assert len(reversed_) == 2 and len(kept) == 2


def test_server_not_running() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineError, match="not reachable"):
        reranker(url).rerank("q", DOCS)


def test_cli_on_error(tmp_path, capsys) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    tok = '{"max_retries": 0, "tokenizer": null}'
    with fault_server("500") as (url, _state):
        # A server without a tokenize endpoint fails too: both are engine errors (exit 3).
        code = main(["rerank", "--query", "q", "--docs", str(docs), "--engine", "openai",
                     "--model", "m", "--base-url", url, "--engine-options", tok])
        assert code == 3
        assert "engine error" in capsys.readouterr().err
