"""Thinking budgets that still answer: with a scripted engine whose thoughts never close, every
window/set/passage gets its answer forced, parsed from the forced answer, every id once."""
from __future__ import annotations

import re

import pytest
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.multicriteria import RebelReranker
from reasonrank.methods.pointwise import PointwiseReranker
from reasonrank.methods.setwise import SetwiseReranker
from reasonrank.scheduling.forcing import ForceAnswer
from reasonrank.spec import RerankerSpec

pytestmark = pytest.mark.cost

ENDLESS = "<think> " + "hmm [3] maybe [1] " * 400  # mentions passages, never closes, never answers


def _n_passages(request: ChatRequest) -> int:
    return len(re.findall(r"^\[\d+\]", request.messages[-1]["content"], re.MULTILINE))


def listwise_model(request: ChatRequest) -> str:
    if request.assistant_prefix.endswith("<answer>"):  # the forced answer: reverse the window
        return " > ".join(f"[{i}]" for i in range(_n_passages(request), 0, -1)) + "</answer>"
    return ENDLESS


def setwise_model(request: ChatRequest) -> str:
    if request.assistant_prefix.endswith("<answer>"):
        return f"[{_n_passages(request)}]</answer>"  # the last passage of the set is best
    return ENDLESS


def rebel_model(request: ChatRequest) -> str:
    if request.assistant_prefix.endswith("<answer>"):
        score = int(re.search(r"v(\d+)", request.messages[-1]["content"]).group(1))
        return "\n".join(f"{c}: {min(score, 5)}" for c in ("relevance", "depth", "recency", "authority",
                                                          "clarity")) + "</answer>"
    return ENDLESS


DOCS = [{"id": f"d{i}", "text": f"passage v{i % 6}"} for i in range(30)]


def _check_forced(result, n_units: int) -> None:
    assert sorted(result.ids) == sorted(d["id"] for d in DOCS)  # every id exactly once
    assert len(result.ids) == len(set(result.ids))
    assert result.usage.forced_answers == n_units == sum(t.forced_answer for t in result.traces)
    assert all(t.thinking_tokens > 0 for t in result.traces)
    assert result.usage.thinking_tokens == sum(t.thinking_tokens for t in result.traces)
    assert result.usage.fallbacks == 0  # answered, not scraped
    assert result.to_dict()["usage"]["forced_answers"] == n_units


def test_listwise_every_window_forced_and_parsed():
    engine = ScriptedEngine(listwise_model)
    result = ListwiseReranker(engine, reasoning_budget=64, answer_tokens=100, force_answer=True).rerank("q", DOCS)
    _check_forced(result, 2)  # 30 docs, window 20 stride 10: two windows
    # the forced continuation continues the same assistant turn after the closed thought
    follow = [r for _, reqs in engine.calls for r in reqs if r.assistant_prefix]
    assert len(follow) == 2 and all(r.assistant_prefix.endswith("</think>\n<answer>") for r in follow)
    assert follow[0].assistant_prefix.startswith("<think> hmm")
    # the answer was parsed from the forced answer: the first window (d10..d29) reversed
    assert result.traces[0].answer.startswith("[20] > [19]")


def test_listwise_without_forcing_scrapes_the_thought():
    engine = ScriptedEngine(listwise_model)
    result = ListwiseReranker(engine, reasoning_budget=64, force_answer=False).rerank("q", DOCS)
    assert result.usage.forced_answers == 0 and all(not r.assistant_prefix for _, rs in engine.calls for r in rs)
    assert result.usage.thinking_tokens == sum(t.completion_tokens for t in result.traces) > 0  # all thought


def test_setwise_every_set_forced_and_parsed():
    engine = ScriptedEngine(setwise_model)
    result = SetwiseReranker(engine, set_size=4, top_k=3, reasoning_budget=32).rerank("q", DOCS)
    _check_forced(result, len(result.traces))
    assert all(t.answer.strip().startswith("[") for t in result.traces)


def test_rebel_every_passage_forced_and_parsed():
    engine = ScriptedEngine(rebel_model)
    docs = DOCS[:8]
    result = RebelReranker(engine, reasoning_budget=32).rerank("q", docs)
    assert sorted(result.ids) == sorted(d["id"] for d in docs)
    assert result.usage.forced_answers == 8 and result.usage.fallbacks == 0
    assert result.ids[0] == "d5"  # v5 scores highest on every criterion


def test_official_presets_keep_the_official_behaviour():
    for preset in ("reasonrank-7b", "rank-r1-7b"):
        spec = RerankerSpec(preset=preset, engine=ScriptedEngine(listwise_model))
        assert not spec.build().answer_forcing.enabled, preset  # type: ignore[attr-defined]
        on = RerankerSpec(preset=preset, engine=ScriptedEngine(), method_options={"force_answer": True})
        assert on.build().answer_forcing.enabled  # type: ignore[attr-defined]


def test_defaults_listwise_official_off_embedded_on():
    assert not ListwiseReranker(ScriptedEngine()).answer_forcing.enabled  # ReasonRank's official parsing
    assert SetwiseReranker(ScriptedEngine()).answer_forcing.enabled
    assert RebelReranker(ScriptedEngine()).answer_forcing.enabled
    embedded = RerankerSpec(preset="embedded-listwise", engine=ScriptedEngine()).build()
    assert embedded.answer_forcing.enabled  # type: ignore[attr-defined]


def test_forcing_option_errors():
    with pytest.raises(InvalidInputError, match="force_answer"):
        PointwiseReranker(ScriptedEngine(), force_answer=True)  # Rank1 forces its own way
    with pytest.raises(InvalidInputError, match="force_answer"):
        ListwiseReranker(ScriptedEngine(), force_answer="yes")  # type: ignore[arg-type]
    for bad in (0, -5):
        with pytest.raises(InvalidInputError, match="reasoning_budget"):
            ListwiseReranker(ScriptedEngine(), reasoning_budget=bad)
        with pytest.raises(InvalidInputError, match="reasoning_budget"):
            SetwiseReranker(ScriptedEngine(), reasoning_budget=bad)
        with pytest.raises(InvalidInputError, match="reasoning_budget"):
            RebelReranker(ScriptedEngine(), reasoning_budget=bad)


@pytest.mark.parametrize("text,state", [
    ("<think>still going", "thinking"),
    ("<think>done</think><answer>[1] > [2", "answering"),
    ("<think>done</think><answer>[1]</answer>", "done"),
    ("no tags at all", "done"),
])
def test_states(text: str, state: str):
    assert ForceAnswer().state(text) == state
