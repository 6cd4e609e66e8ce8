"""The error policy covers every engine call of every method, request building included: the
OpenAI engine counts tokens through the server's ``/tokenize`` (no local tokenizer here), and
that call meets the same fault as the generation. Against a real local server that is down,
returns 500 or hangs: ``keep_order`` gives the input order with a warning (CLI exit 0), ``raise``
one clear ``EngineError`` naming the query (CLI exit 3). Choice scoring is covered by a server
that answers completions without logprobs."""
from __future__ import annotations

import contextlib
import json

import pytest
from reasonrank.cli import main
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.errors import EngineError
from reasonrank.methods import method_class
from reasonrank.testing.servers.fault_server import fault_server
from reasonrank.testing.servers.process import free_port
from reasonrank.types import Query

pytestmark = pytest.mark.reliability

DOCS = [{"id": f"d{i}", "text": f"passage number {i} about rivers"} for i in range(3)]
IDS = [d["id"] for d in DOCS]
METHODS = ["listwise", "pointwise", "rebel", "setwise"]
# Every method truncates passages by tokens, so request building calls the engine.
OPTIONS = {
    "listwise": {"max_passage_tokens": 50},
    "pointwise": {"max_passage_tokens": 50, "reasoning_budget": 16},
    "rebel": {"max_passage_tokens": 50},
    "setwise": {"max_passage_tokens": 50, "set_size": 3, "top_k": 2},
}


@contextlib.contextmanager
def server(fault: str):
    if fault == "down":
        yield f"http://127.0.0.1:{free_port()}/v1"
    else:
        with fault_server({"500": "500", "hang": "hang", "ok": "ok"}[fault]) as (url, _state):
            yield url


def reranker(method: str, url: str, on_error: str):
    engine = OpenAIEngine("m", base_url=url, max_retries=1, backoff=0.01, timeout=0.5)
    return method_class(method)(engine, on_error=on_error, **OPTIONS[method])


@pytest.mark.parametrize("fault", ["down", "500", "hang"])
@pytest.mark.parametrize("method", METHODS)
def test_keep_order_covers_request_building(method: str, fault: str) -> None:
    with server(fault) as url:
        result = reranker(method, url, "keep_order").rerank("rivers", DOCS)
    assert result.ids == IDS
    assert result.warnings and any("engine error" in w or "kept input order" in w for w in result.warnings)
    assert result.usage.engine_fallbacks >= 1


@pytest.mark.parametrize("fault", ["down", "500", "hang"])
@pytest.mark.parametrize("method", METHODS)
def test_raise_gives_one_clear_error_naming_the_query(method: str, fault: str) -> None:
    cause = {"down": "not reachable", "500": "HTTP 500", "hang": "timed out"}[fault]
    with server(fault) as url, pytest.raises(EngineError, match=f"query 'q1'.*{cause}"):
        reranker(method, url, "raise").rerank(Query("rivers", id="q1"), DOCS)


def test_choice_scoring_failure_is_under_the_policy() -> None:
    # The "ok" server writes completions but never logprobs: pointwise scoring fails.
    with fault_server("ok") as (url, _state):
        engine = OpenAIEngine("m", base_url=url, max_retries=0)
        engine._tokenize = lambda text: text.split()  # type: ignore[method-assign]
        kept = method_class("pointwise")(engine, on_error="keep_order", reasoning_budget=16).rerank("q", DOCS)
        assert kept.ids == IDS and any("no logprobs" in w for w in kept.warnings)
        with pytest.raises(EngineError, match="no logprobs"):
            method_class("pointwise")(engine, reasoning_budget=16).rerank("q", DOCS)


@pytest.mark.parametrize("method", METHODS)
def test_cli_server_down_keep_order_exits_0_with_input_order(method: str, tmp_path, capsys) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = ["rerank", "--query", "rivers", "--docs", str(docs), "--method", method, "--engine", "openai",
            "--base-url", url, "--model", "m", "--engine-options", '{"max_retries": 0}']
    assert main([*args, "--on-error", "keep_order", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in out["results"]] == IDS
    assert out["warnings"] and out["usage"]["engine_fallbacks"] >= 1
    assert main(args) == 3
    assert "engine error" in capsys.readouterr().err
