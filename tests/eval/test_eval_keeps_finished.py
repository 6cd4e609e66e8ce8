"""Batches keep what finished: a query that fails in the middle of an evaluation batch stops the
run only after the batch's other queries are on disk, the error names the query, and a rerun
completes by reranking only what is missing. Fallback totals reach metrics.json and --json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from reasonrank.cli import main
from reasonrank.data import Dataset
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError
from reasonrank.evaluate import evaluate, load_results
from reasonrank.methods.listwise import ListwiseReranker

pytestmark = pytest.mark.reliability

TINY = Path(__file__).parents[1] / "eval" / "data" / "tiny"


def reverse_window(request: ChatRequest) -> str:
    n = request.messages[-1]["content"].count("\n[")
    return "<think>ok</think><answer>" + " > ".join(f"[{i}]" for i in range(n, 0, -1)) + "</answer>"


def test_a_crash_mid_batch_keeps_the_finished_queries_and_a_rerun_completes(tmp_path) -> None:
    dataset = Dataset.load(TINY)
    qids = dataset.query_ids()
    doomed = dataset.queries[qids[1]]

    def flaky(request: ChatRequest) -> str:
        if doomed in request.messages[-1]["content"]:
            raise RuntimeError("worker crashed")
        return reverse_window(request)

    crashing = ListwiseReranker(ScriptedEngine(flaky, max_batch_size=1, max_concurrency=1))
    with pytest.raises(EngineError, match=f"query '{qids[1]}'.*worker crashed"):
        evaluate(crashing, dataset, tmp_path, top_k=6, batch_size=len(qids), show_progress=False)
    saved = load_results(tmp_path / "results.jsonl")
    assert sorted(saved) == sorted(q for q in qids if q != qids[1])  # every finished query is on disk
    assert not (tmp_path / "metrics.json").exists()

    healthy = ScriptedEngine(reverse_window, max_batch_size=8, max_concurrency=1)
    doc = evaluate(ListwiseReranker(healthy), dataset, tmp_path, top_k=6, batch_size=len(qids), show_progress=False)
    assert doc["num_queries"] == len(qids) and sorted(doc["per_query"]) == sorted(qids)
    seen = [r.messages[-1]["content"] for _, reqs in healthy.calls for r in reqs]
    assert len(seen) == 1 and doomed in seen[0]  # only the missing query was reranked again


def test_fallbacks_are_totalled_in_metrics_and_json(tmp_path, capsys) -> None:
    # The scripted engine answers "" (no ranking): every window falls back, the run completes.
    out = tmp_path / "out"
    code = main(["eval", str(TINY), "--engine", "scripted", "--top-k", "6", "--output", str(out),
                 "--no-progress", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    n = doc["num_queries"]
    assert doc["fallbacks"] == {"model_output": n, "engine": 0, "queries_affected": n}
    assert doc["usage"]["fallbacks"] == n
    assert json.loads((out / "metrics.json").read_text())["fallbacks"]["model_output"] == n
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["usage"]["fallbacks"] == 1 for r in records)


def test_strict_flag_stops_with_a_parse_error_exit_2(tmp_path, capsys) -> None:
    code = main(["eval", str(TINY), "--engine", "scripted", "--top-k", "6", "--output", str(tmp_path / "o"),
                 "--no-progress", "--strict"])
    assert code == 2
    assert "no ranking in the output" in capsys.readouterr().err
