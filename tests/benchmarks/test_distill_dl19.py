"""The DL19 distillation benchmark's mechanics on a tiny dataset and a tiny student (fast): folds
by query, the oracle and BM25 teachers, one row per student, resume from the results file. The
script, ``benchmarks/training/distill_dl19.py``, is imported by name (``conftest.py``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")

import distill_dl19
from reasonrank.testing.tiny_encoder import tiny_bi_encoder_dir


def tiny_dataset(root: Path, queries: int = 6, depth: int = 6) -> Path:
    root.mkdir(parents=True)
    lines: dict[str, list[str]] = {"queries.tsv": [], "run.bm25.trec": [], "qrels.txt": [], "corpus.jsonl": []}
    for q in range(queries):
        lines["queries.tsv"].append(f"q{q}\ttopic{q} question")
        for i in range(depth):
            lines["run.bm25.trec"].append(f"q{q} Q0 q{q}d{i} {i + 1} {depth - i} bm25")
            lines["qrels.txt"].append(f"q{q} 0 q{q}d{i} {int(i % 2 == 1)}")
            lines["corpus.jsonl"].append(json.dumps({"_id": f"q{q}d{i}", "text": f"topic{q} passage {i}"}))
    for name, rows in lines.items():
        (root / name).write_text("\n".join(rows) + "\n")
    return root


def test_folds_hold_every_query_out_once() -> None:
    qids = [f"q{i}" for i in range(43)]
    folds = distill_dl19.folds_of(qids, 3)
    assert sorted(q for f in folds for q in f) == sorted(qids) and [len(f) for f in folds] == [15, 14, 14]


def test_a_tiny_cross_validation_writes_one_row_per_student_and_resumes(tmp_path, capsys) -> None:
    data = tiny_dataset(tmp_path / "data")
    out = tmp_path / "result.json"
    argv = [str(data), "--output", str(out), "--work", str(tmp_path / "work"), "--depth", "6", "--epochs", "1",
            "--group-size", "4", "--queries-per-step", "2", "--student", str(tiny_bi_encoder_dir())]
    assert distill_dl19.main(argv) == 0
    doc = json.loads(out.read_text())
    assert len(doc["runs"]) == 3 * 5  # 3 folds x (4 dense teachers + 1 cross student)
    summary = doc["summary"]
    assert set(summary) == {"qrels-dense", "bm25-dense", "oracle-0.5-dense", "oracle-1-dense", "qrels-cross"}
    assert summary["bm25-dense"]["teacher"]["tau_first_stage"] == 1.0  # BM25's own order
    assert summary["qrels-dense"]["teacher"]["ndcg10"] >= summary["qrels-dense"]["first_stage"]["ndcg10"]
    assert doc["gpu_command"].startswith("reasonrank train distill dl19 --teacher reasonrank-7b")
    capsys.readouterr()
    assert distill_dl19.main(argv) == 0  # everything is in the results file: nothing trains again
    assert "fold0" not in capsys.readouterr().out
    assert distill_dl19.main(["--output", str(out), "--table"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 + 5 and table[2].startswith("| bm25-dense | 3 |")
    # a part run side by side merges into the main file
    part = json.loads(out.read_text())
    part["runs"] = {k: v for k, v in part["runs"].items() if k.endswith("qrels-cross")}
    main_doc = json.loads(out.read_text())
    main_doc["runs"] = {k: v for k, v in main_doc["runs"].items() if not k.endswith("qrels-cross")}
    main_doc["summary"] = distill_dl19.summarise(main_doc["runs"])
    (tmp_path / "part.json").write_text(json.dumps(part))
    out.write_text(json.dumps(main_doc))
    assert distill_dl19.main(["--output", str(out), "--merge", str(tmp_path / "part.json")]) == 0
    assert len(json.loads(out.read_text())["runs"]) == 15 and "qrels-cross" in json.loads(out.read_text())["summary"]
