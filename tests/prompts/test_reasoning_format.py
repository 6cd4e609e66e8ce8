"""The reasoning format is declared once (``prompts/reasoning_format.toml``): the default gives
the official strings, and a prompt that swaps it (``<reasoning>``/``<final>`` tags) changes every
consumer together: parsing, forced answers, the pointwise scoring input, the reward's format
check and the synthesis filter."""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.pointwise import PointwiseReranker
from reasonrank.methods.setwise import SetwiseReranker
from reasonrank.parsing import parse_ranking, split_sections
from reasonrank.prompts import DEFAULT_FORMAT, load_prompt
from reasonrank.training.rewards import format_reward, listwise_reward, pointwise_reward
from reasonrank.training.synthesize import SynthesisSettings, synthesize

SWAPPED = '\n[format]\nthink_open = "<reasoning>"\nthink_close = "</reasoning>"\nanswer_open = "<final>"\nanswer_close = "</final>"\n'
DOCS = [{"id": f"d{i}", "text": f"passage number {i} text"} for i in range(1, 5)]


def _swapped(tmp_path: Path, name: str) -> str:
    """The built-in prompt ``name`` with the swapped format appended as its [format] table."""
    text = resources.files("reasonrank.prompts").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    path = tmp_path / f"{name}-reasoning.toml"
    path.write_text(text + SWAPPED, encoding="utf-8")
    return str(path)


def test_default_format_is_the_official_one():
    assert DEFAULT_FORMAT.answer_pattern == r"<think>.*?</think>\s*<answer>(.*?)</answer>"  # listwise_prompt_r1.toml
    assert DEFAULT_FORMAT.forced_close == "</think>\n<answer>"
    official = ("The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
                "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.")
    assert load_prompt("reasonrank")["system"].endswith(official)
    assert load_prompt("setwise")["system"].endswith(official)
    rank1, erank = load_prompt("rank1"), load_prompt("erank")
    assert (rank1["assistant_prefix"], rank1["stop"]) == ("<think>", ["</think>"])
    assert rank1["forced_answer_prefix"] == "<think>\n{reasoning}\n</think>"
    assert erank["closed_answer_prefix"] == "<think>{reasoning}</think>\n\n<answer>"
    assert erank["choices"][10] == "10</answer>"
    assert "<think>put your thinking here</think><answer>Only allows an integer here</answer>" in erank["user"]
    assert not any("{think" in str(v) or "{answer_" in str(v) for p in (rank1, erank) for v in p.values())


def test_format_errors_are_clear():
    with pytest.raises(InvalidInputError, match="unknown"):
        load_prompt({"format": {"think_start": "<t>"}})
    with pytest.raises(InvalidInputError, match="non-empty"):
        load_prompt({"format": {"think_open": ""}})


def test_swapped_format_parses_and_prompts_in_its_tags(tmp_path: Path):
    prompt = _swapped(tmp_path, "reasonrank")
    engine = ScriptedEngine(lambda r: "<reasoning>d2 first</reasoning> <final>[2] > [1] > [3] > [4]</final>")
    reranker = ListwiseReranker(engine, prompt=prompt)
    result = reranker.rerank("q", DOCS)
    assert result.ids[:2] == ["d2", "d1"] and result.warnings == []
    assert result.traces[0].reasoning == "d2 first"
    system = engine.calls[0][1][0].messages[0]["content"]
    assert "<reasoning> reasoning process here </reasoning> <final> answer here </final>" in system
    assert "<think>" not in system
    # the official tags are no longer the answer: the parser repairs and warns
    old = ListwiseReranker(ScriptedEngine(lambda r: "<think>x</think><answer>[2] > [1]</answer>"), prompt=prompt)
    assert old.rerank("q", DOCS).warnings
    fmt = reranker.reasoning_format
    assert parse_ranking("<reasoning>r</reasoning><final>[3]</final>", 3, fmt=fmt).order == [2, 0, 1]
    assert split_sections("<reasoning>r</reasoning> tail", fmt=fmt).warnings == [
        "no <final> tag; used the text after </reasoning>"]


def test_swapped_format_forces_answers_in_its_tags(tmp_path: Path):
    def model(request: ChatRequest) -> str:
        if request.assistant_prefix.endswith("<final>"):
            return "[4] > [3] > [2] > [1]</final>"
        return "<reasoning> " + "hmm [1] " * 200  # never closes its thought
    engine = ScriptedEngine(model)
    result = ListwiseReranker(engine, prompt=_swapped(tmp_path, "reasonrank"), reasoning_budget=32,
                              force_answer=True).rerank("q", DOCS)
    follow = [r for _, reqs in engine.calls for r in reqs if r.assistant_prefix]
    assert len(follow) == 1 and follow[0].assistant_prefix.endswith("</reasoning>\n<final>")
    assert follow[0].assistant_prefix.startswith("<reasoning> hmm")
    assert result.usage.forced_answers == 1 and result.ids == ["d4", "d3", "d2", "d1"]
    setwise = SetwiseReranker(ScriptedEngine(), prompt=_swapped(tmp_path, "setwise"))
    assert setwise.answer_forcing is not None and setwise.answer_forcing.format == setwise.reasoning_format
    assert setwise.answer_forcing.state("<reasoning>still") == "thinking"


def test_swapped_format_is_the_pointwise_scoring_input(tmp_path: Path):
    engine = ScriptedEngine(lambda r: "Relevant.</reasoning> true", lambda r, c: {" true": -0.1, " false": -2.0},
                            max_concurrency=1)
    PointwiseReranker(engine, prompt=_swapped(tmp_path, "rank1"), reasoning_budget=64).rerank("q", DOCS[:1])
    (_, gen_reqs), (_, ans_reqs) = engine.calls
    assert gen_reqs[0].assistant_prefix == "<reasoning>"
    assert ans_reqs[0].assistant_prefix == "<reasoning>Relevant.</reasoning>"  # cut at its own close tag
    graded = PointwiseReranker(ScriptedEngine(), prompt=_swapped(tmp_path, "erank"))
    assert graded.params.stop == ("</reasoning>",)
    assert graded.template.choices[7] == "7</final>"
    assert graded.template.closed_answer_prefix == "<reasoning>{reasoning}</reasoning>\n\n<final>"
    assert "<reasoning>put your thinking here</reasoning><final>" in graded.template.user


def test_swapped_format_is_the_rewards_format_check(tmp_path: Path):
    fmt = load_prompt(_swapped(tmp_path, "reasonrank"))["format"]
    new, old = "<reasoning>r</reasoning><final>[2] > [1]</final>", "<think>r</think><answer>[2] > [1]</answer>"
    assert format_reward(new, num_candidates=2, fmt=fmt) == 1.0
    assert format_reward(old, num_candidates=2, fmt=fmt) == 0.0
    assert format_reward(old, num_candidates=2) == 1.0  # the default stays the official one
    assert listwise_reward(old, candidate_ids=["a", "b"], gold_answer="[2] > [1]", relevant_ids=["b"], fmt=fmt) == -1.0
    assert listwise_reward(new, candidate_ids=["a", "b"], gold_answer="[2] > [1]", relevant_ids=["b"],
                           fmt=fmt) == pytest.approx(1.3)
    assert pointwise_reward("ok</reasoning> true", label=True, fmt=fmt) == 1.0
    assert pointwise_reward("ok</think> true", label=True, fmt=fmt) == -1.0


def _dataset(root: Path) -> Path:
    root.mkdir()
    (root / "queries.tsv").write_text("q1\tfirst query\n")
    (root / "qrels.txt").write_text("q1 0 d2 1\nq1 0 d1 0\n")
    (root / "run.bm25.trec").write_text("".join(f"q1 Q0 d{i} {i} {10 - i} bm25\n" for i in range(1, 5)))
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": d["id"], "title": "", "text": d["text"]}) + "\n"
                                              for d in DOCS))
    return root


@pytest.mark.parametrize("tags,kept", [(("reasoning", "final"), 1), (("think", "answer"), 0)])
def test_swapped_format_is_the_synthesis_filter(tmp_path: Path, tags: tuple[str, str], kept: int):
    think, answer = tags

    def teacher(request: ChatRequest) -> str:
        text = request.messages[-1]["content"]
        if "Determine if the following passage is relevant" in text:
            return f"Yes.</{think}> true" if "number 2 " in text else f"No.</{think}> false"
        labels = re.findall(r"^\[(\d+)\] passage number 2", text, re.MULTILINE)
        return f"<{think}>2 first</{think}><{answer}>[{labels[0]}] > [1] > [3] > [4]</{answer}>"

    settings = SynthesisSettings(window_size=4, pointwise_per_query=2, reasoning_budget=64,
                                 listwise_prompt=_swapped(tmp_path, "reasonrank"),
                                 pointwise_prompt=_swapped(tmp_path, "rank1"))
    report = synthesize(_dataset(tmp_path / "ds"), tmp_path / "out", ScriptedEngine(teacher), settings)
    assert report["listwise"]["this_run"]["kept"] == kept
    assert report["pointwise"]["this_run"]["kept"] == 2 * kept
    if not kept:  # the official tags are a format miss under the swapped format
        assert report["listwise"]["this_run"]["dropped"] == {"format": 1}
        assert report["pointwise"]["this_run"]["dropped"] == {"format": 2}
