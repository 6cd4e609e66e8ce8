"""End-to-end evaluation with a scripted engine: outputs, metrics, resuming after a crash."""
from __future__ import annotations

import json

import pytest
from eval_helpers import CountingEngine, ScriptRanker, oracle_fn
from reasonrank.data import Dataset, read_trec_run
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.evaluate import evaluate, load_results

pytrec_eval = pytest.importorskip("pytrec_eval")


def pytrec(qrels, run, measure, key):
    scores = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(run)
    return sum(v[key] for v in scores.values()) / len(scores)


def run_eval(ds, out, engine, **kw):
    kw.setdefault("top_k", 4)
    kw.setdefault("show_progress", False)
    return evaluate(ScriptRanker(engine), ds, out, **kw)


def test_eval_writes_run_results_and_metrics(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    engine = CountingEngine(oracle_fn(ds.qrels))
    doc = run_eval(ds, tmp_path, engine, batch_size=2)

    # Batched: 3 judged queries in chunks of 2 -> two engine calls.
    assert [len(reqs) for _, reqs in engine.calls] == [2, 1]
    run = read_trec_run(tmp_path / "run.reranked.trec")
    assert list(run) == ["q1", "q2", "q3"]
    # Top-4 reranked by relevance (q1d0 rel 1 first, q1d1 rel 0 stays in the window), then the
    # first-stage tail q1d4 q1d5 untouched.
    assert [d for d, _ in run["q1"]] == ["q1d0", "q1d1", "q1d2", "q1d3", "q1d4", "q1d5"]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["query_id"] for x in lines] == ["q1", "q2", "q3"]
    assert json.loads(lines[0])["reasoning"] == "reasoning for q1"

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == doc
    assert metrics["num_queries"] == 3 and metrics["top_k"] == 4
    assert set(metrics["mean"]) == {"first_stage", "reranker", "delta"}
    assert set(metrics["per_query"]["q2"]) == {"first_stage", "reranker"}
    # Equal to pytrec_eval on the written run and on the first-stage run of the same queries.
    ours = pytrec(ds.qrels, {q: dict(v) for q, v in run.items()}, "ndcg_cut.10", "ndcg_cut_10")
    base = pytrec(ds.qrels, {q: dict(ds.run[q]) for q in run}, "ndcg_cut.10", "ndcg_cut_10")
    assert metrics["mean"]["reranker"]["nDCG@10"] == pytest.approx(ours)
    assert metrics["mean"]["first_stage"]["nDCG@10"] == pytest.approx(base)
    # Same depth both sides, so deep recall is equal; the oracle's window can only help.
    assert metrics["mean"]["reranker"]["R@100"] == metrics["mean"]["first_stage"]["R@100"]


def test_full_depth_oracle_is_perfect_and_beats_bm25(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    doc = run_eval(ds, tmp_path, CountingEngine(oracle_fn(ds.qrels)), top_k=100)
    assert doc["mean"]["reranker"]["nDCG@10"] == pytest.approx(1.0)
    assert doc["mean"]["first_stage"]["nDCG@10"] < 0.8
    assert doc["mean"]["delta"]["nDCG@10"] > 0.2


def test_limit_queries(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    doc = run_eval(ds, tmp_path, CountingEngine(oracle_fn(ds.qrels)), limit_queries=2)
    assert doc["num_queries"] == 2 and list(doc["per_query"]) == ["q1", "q2"]


def test_crash_then_resume_recomputes_nothing(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    broken = CountingEngine(oracle_fn(ds.qrels), fail_after=2)
    with pytest.raises(EngineError):
        run_eval(ds, tmp_path, broken, batch_size=1)
    assert broken.queries_seen == ["q1", "q2"]
    assert len(load_results(tmp_path / "results.jsonl")) == 2
    assert not (tmp_path / "metrics.json").exists()

    fresh = CountingEngine(oracle_fn(ds.qrels))
    doc = run_eval(ds, tmp_path, fresh, batch_size=1)
    assert fresh.queries_seen == ["q3"]  # q1, q2 were not recomputed
    assert doc["num_queries"] == 3

    reference = tmp_path / "reference"
    run_eval(ds, reference, CountingEngine(oracle_fn(ds.qrels)))
    assert (tmp_path / "run.reranked.trec").read_text() == (reference / "run.reranked.trec").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text())["mean"] == doc["mean"]

    again = CountingEngine(oracle_fn(ds.qrels))
    run_eval(ds, tmp_path, again)
    assert again.calls == []  # everything done: nothing to rerank


def test_keep_order_on_engine_failure_is_recorded(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    engine = CountingEngine(oracle_fn(ds.qrels), fail_after=0)
    doc = evaluate(ScriptRanker(engine, on_error="keep_order"), ds, tmp_path, top_k=4, show_progress=False)
    assert doc["queries_with_warnings"] == 3
    assert doc["mean"]["reranker"]["nDCG@10"] == pytest.approx(doc["mean"]["first_stage"]["nDCG@10"])


def test_half_written_last_line_is_dropped_and_redone(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    with pytest.raises(EngineError):
        run_eval(ds, tmp_path, CountingEngine(oracle_fn(ds.qrels), fail_after=1), batch_size=1)
    path = tmp_path / "results.jsonl"
    good = path.read_text()
    path.write_text(good + '{"query_id": "q2", "resul')  # crash in the middle of a write
    engine = CountingEngine(oracle_fn(ds.qrels))
    with pytest.warns(UserWarning, match="unfinished last line"):
        run_eval(ds, tmp_path, engine, batch_size=1)
    assert engine.queries_seen == ["q2", "q3"]
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["query_id"] for r in records] == ["q1", "q2", "q3"]


def test_foreign_line_and_changed_settings_are_errors(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    run_eval(ds, tmp_path, CountingEngine(oracle_fn(ds.qrels)), limit_queries=1)
    with pytest.raises(InvalidInputError, match="other settings.*top_k"):
        run_eval(ds, tmp_path, CountingEngine(oracle_fn(ds.qrels)), top_k=5)
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"not": "a result"}\n')
    with pytest.raises(InvalidInputError, match=r"results.jsonl:2: not a rerank result"):
        run_eval(ds, tmp_path, CountingEngine(oracle_fn(ds.qrels)))


def test_bad_arguments_fail_before_any_engine_call(tiny_dir, tmp_path):
    ds = Dataset.load(tiny_dir)
    engine = CountingEngine(oracle_fn(ds.qrels))
    for kw in ({"top_k": 0}, {"batch_size": -1}, {"measures": ["nDCG@x"]}, {"limit_queries": 0}):
        with pytest.raises(InvalidInputError):
            run_eval(ds, tmp_path / "x", engine, **kw)
    assert engine.calls == []
