"""`reasonrank rerank`: docs JSONL input, human and JSON output, dry run, bad input exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from reasonrank.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "dl19_query_1037798.jsonl"
# The scripted engine answers "" -> no ranking; keep_order makes it a warning, so these tests
# check the CLI plumbing fast. Real models run in the tiny-model and embedded tests below.
# The scripted engine writes text, so these CLI tests pick the listwise method explicitly (the
# no-argument default, ICR, reads attention weights: see tests/methods/test_cpu_methods.py).
SCRIPTED = ["--method", "listwise", "--engine", "scripted", "--on-error", "keep_order"]


def write_docs(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["rerank", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def example_ids() -> list[str]:
    return [json.loads(line)["id"] for line in EXAMPLE.read_text().splitlines()]


def test_json_output_holds_every_id_once(capsys):
    code, out, _ = run_cli(capsys, "--query", "who is robert gray", "--docs", str(EXAMPLE), "--json", *SCRIPTED)
    assert code == 0
    doc = json.loads(out)
    assert doc["query"] == "who is robert gray" and doc["method"] == "listwise"
    ids = [r["id"] for r in doc["results"]]
    assert sorted(ids) == sorted(example_ids()) and len(ids) == 20
    assert [r["rank"] for r in doc["results"]] == list(range(20))
    assert all({"id", "rank", "score"} <= set(r) for r in doc["results"])
    assert {"reasoning", "warnings", "usage"} <= set(doc)
    assert doc["usage"]["engine_calls"] == 1
    assert any("no valid id" in w for w in doc["warnings"])


def test_human_output_and_depth(capsys, tmp_path):
    lines = [json.dumps({"id": f"p{i}", "text": f"passage {i}", "title": "T" if i == 0 else None}) for i in range(30)]
    code, out, _ = run_cli(capsys, "--query", "q", "--docs", write_docs(tmp_path, lines), "--depth", "5", *SCRIPTED)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [r[3] for r in rows] == [f"p{i}" for i in range(30)]  # rank, was, score, id
    assert "T passage 0" in out


def test_dry_run_prints_exact_prompt_without_model(capsys):
    code, out, _ = run_cli(capsys, "--query", "who is robert gray", "--docs", str(EXAMPLE), "--dry-run", *SCRIPTED)
    assert code == 0
    assert "I will provide you with 20 passages" in out
    assert "[20] " in out and "Search Query: who is robert gray." in out
    code, out, _ = run_cli(capsys, "--query", "q", "--docs", str(EXAMPLE), "--dry-run", "--json", *SCRIPTED)
    doc = json.loads(out)
    assert doc["requests"][0]["messages"][0]["role"] == "system"
    assert doc["requests"][0]["prompt"].endswith("<|assistant|>\n")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "text": "x"}', "{not json"], "docs.jsonl:2: invalid JSON"),
        (['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'], "docs.jsonl:2: duplicate id 'a' (first on line 1)"),
        (['{"text": "x"}'], "docs.jsonl:1: object has no 'id'"),
        (['{"id": true, "text": "x"}'], "docs.jsonl:1: invalid 'id': True"),
        (['{"id": "a"}'], "docs.jsonl:1: candidate 'a' has no text"),
        (['{"id": "a", "text": "x", "title": 3}'], "docs.jsonl:1: 'title' must be a string"),
        (['["a", "b"]'], "docs.jsonl:1: expected a JSON object"),
        (["", "  "], "docs.jsonl: no documents"),
    ],
)
def test_bad_docs_exit_2_with_one_line(capsys, tmp_path, lines, message):
    code, out, err = run_cli(capsys, "--query", "q", "--docs", write_docs(tmp_path, lines), *SCRIPTED)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_missing_file_empty_query_and_rebel_flags(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--query", "q", "--docs", str(tmp_path / "nope.jsonl"), *SCRIPTED)
    assert code == 2 and "nope.jsonl: no such file" in err
    code, _, err = run_cli(capsys, "--query", "  ", "--docs", str(EXAMPLE), *SCRIPTED)
    assert code == 2 and "--query is empty" in err
    code, _, err = run_cli(capsys, "--query", "q", "--docs", str(EXAMPLE), "--criteria", "relevance=1", *SCRIPTED)
    assert code == 2 and "--method rebel only" in err
    code, _, err = run_cli(capsys, "--query", "q", "--docs", str(EXAMPLE), "--depth", "0", *SCRIPTED)
    assert code == 2 and "--depth must be a positive integer, got 0" in err


def test_parse_criteria():
    from reasonrank.cli.rerank import parse_criteria
    from reasonrank.errors import InvalidInputError

    assert parse_criteria("relevance=0.5, recency=0.25") == {"relevance": 0.5, "recency": 0.25}
    for bad in ("relevance", "=1", "a=x", ","):
        with pytest.raises(InvalidInputError):
            parse_criteria(bad)


def test_tiny_model_end_to_end(capsys, tmp_path, tiny_model_path):
    pytest.importorskip("reasonrank.engines.transformers")
    lines = [json.dumps({"id": f"t{i}", "text": f"tiny passage {i} about topic"}) for i in range(21)]
    code, out, err = run_cli(
        capsys, "--query", "topic", "--docs", write_docs(tmp_path, lines), "--json",
        "--method", "listwise", "--engine", "transformers", "--model", str(tiny_model_path),
        "--on-error", "keep_order", "--depth", "21",
        "--method-options", '{"reasoning_budget": 4, "max_passage_tokens": 8}',
    )
    assert code == 0, err
    doc = json.loads(out)
    assert sorted(r["id"] for r in doc["results"]) == sorted(f"t{i}" for i in range(21))
    assert doc["usage"]["engine_calls"] == 2 and doc["usage"]["completion_tokens"] > 0


def test_subprocess_console_entry(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "reasonrank", "rerank", "--query", "who is robert gray", "--docs", str(EXAMPLE),
         "--json", *SCRIPTED],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["id"] for r in json.loads(proc.stdout)["results"]) == sorted(example_ids())
    bad = subprocess.run(
        [sys.executable, "-m", "reasonrank", "rerank", "--query", "q", "--docs", str(tmp_path / "x.jsonl")],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
