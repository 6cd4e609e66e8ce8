"""Data synthesis: the self-consistency filter, drop reasons, resumability, and a real tiny teacher."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.training.synthesize import SynthesisSettings, synthesize

DOCS = {f"d{i}": f"passage number {i} text" for i in range(1, 7)}


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    root.mkdir()
    (root / "queries.tsv").write_text("q1\tfirst query\nq2\tsecond query\nq3\tthird query\n")
    # q1: d2 relevant; q2: d1 relevant; q3: d6 relevant (outside a window of 4).
    (root / "qrels.txt").write_text(
        "q1 0 d2 1\nq1 0 d1 0\nq2 0 d1 2\nq2 0 d3 0\nq3 0 d6 1\nq3 0 d1 0\n"
    )
    run = []
    for q in ("q1", "q2", "q3"):
        run += [f"{q} Q0 d{i} {i} {10 - i} bm25" for i in range(1, 7)]
    (root / "run.bm25.trec").write_text("\n".join(run) + "\n")
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in DOCS.items()))
    return root


def teacher_answer(request) -> str:
    """A scripted teacher: puts the passage whose text mentions 'number 2' first for listwise;
    says 'true' for pointwise pairs on passage 1."""
    text = request.messages[-1]["content"]
    if "Determine if the following passage is relevant" in text:
        return "It talks about it.</think> true" if "number 1 " in text else "No.</think> false"
    labels = re.findall(r"^\[(\d+)\] passage number (\d+)", text, re.MULTILINE)
    order = sorted(labels, key=lambda lab: lab[1] != "2")
    return "<think>passage 2 answers it</think>\n<answer>" + " > ".join(f"[{a}]" for a, _ in order) + "</answer>"


def test_filter_keeps_consistent_labels_and_reports_drops(dataset: Path, tmp_path: Path) -> None:
    engine = ScriptedEngine(teacher_answer)
    settings = SynthesisSettings(window_size=4, pointwise_per_query=2, reasoning_budget=64)
    report = synthesize(dataset, tmp_path / "out", engine, settings)
    # q1: d2 first -> nDCG@10 = 1, kept. q2: d1 relevant but ranked 2nd -> 1/log2(3) = 0.63 > 0.4, kept.
    # q3: d6 not in the window -> nDCG 0, dropped as low_ndcg.
    lw = report["listwise"]["this_run"]
    assert lw["kept"] == 2 and lw["dropped"] == {"low_ndcg": 1}
    rows = [json.loads(line) for line in (tmp_path / "out" / "listwise.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in rows] == ["q1", "q2"]
    assert rows[1]["teacher_ndcg10"] == pytest.approx(1 / __import__("math").log2(3))
    assert rows[0]["candidate_ids"] == ["d1", "d2", "d3", "d4"]
    assert rows[0]["messages"][-1]["role"] == "assistant" and "<answer>[2]" in rows[0]["messages"][-1]["content"]
    # Pointwise: q1 pairs (d2 rel, d1 non-rel): teacher says d2 false (disagrees), d1 true (disagrees).
    # q2 pairs (d1 rel -> true agrees, d3 non-rel -> false agrees). q3: d6 is outside the
    # first-stage top-4, so its only pair is d1 (non-rel) -> teacher says true, disagrees.
    pw = report["pointwise"]["this_run"]
    assert pw["kept"] == 2 and pw["dropped"] == {"disagrees_with_qrels": 3}
    kept = [json.loads(line) for line in (tmp_path / "out" / "pointwise.jsonl").read_text().splitlines()]
    assert {(r["qid"], r["docid"], r["label"]) for r in kept} == {("q2", "d1", True), ("q2", "d3", False)}
    assert kept[0]["messages"][-1]["content"].startswith("<think>")


def test_resume_skips_finished_queries(dataset: Path, tmp_path: Path) -> None:
    first = ScriptedEngine(teacher_answer)
    settings = SynthesisSettings(kinds=("listwise",), window_size=4, limit_queries=2, queries_per_chunk=1)
    synthesize(dataset, tmp_path / "out", first, settings)
    assert len(first.calls) == 2
    second = ScriptedEngine(teacher_answer)
    report = synthesize(dataset, tmp_path / "out", second, SynthesisSettings(kinds=("listwise",), window_size=4))
    assert len(second.calls) == 1  # only q3 is new
    assert report["listwise"]["total_kept"] == 2 and report["listwise"]["total_dropped"] == {"low_ndcg": 1}
    lines = (tmp_path / "out" / "listwise.jsonl").read_text().splitlines()
    assert len(lines) == 2  # nothing written twice


def test_tiny_real_teacher_runs_and_filters(dataset: Path, tmp_path: Path, tiny_engine) -> None:
    settings = SynthesisSettings(window_size=4, pointwise_per_query=2, reasoning_budget=8)
    report = synthesize(dataset, tmp_path / "out", tiny_engine, settings)
    lw, pw = report["listwise"]["this_run"], report["pointwise"]["this_run"]
    # A random tiny model writes no valid format: every label is accounted for, as kept or dropped.
    assert lw["kept"] + sum(lw["dropped"].values()) == 3
    assert pw["kept"] + sum(pw["dropped"].values()) == 5
    assert (tmp_path / "out" / "ledger.jsonl").is_file()
