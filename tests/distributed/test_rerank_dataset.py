"""Distributed reranking on a real local Ray cluster (one per session): results identical to
``rerank_batch`` in one process with a replica killed mid-run, resume after an interrupted run,
the tiny transformers model end to end, and the ``rerank-dataset`` command."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from reasonrank.cli import EXIT_BAD_INPUT, EXIT_ENGINE, main
from reasonrank.data import read_trec_run
from reasonrank.distributed import (
    RayOptions,
    RerankerSpec,
    iter_records,
    rerank_dataset,
    result_record,
)
from reasonrank.distributed.output import shard_paths
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.testing.ray_factories import ScriptedFactory, rows, write_jsonl

EVAL_DATA = Path(__file__).parents[1] / "eval" / "data"
TWO = RayOptions(replicas=2, cpus_per_replica=0.5, batch_size=2)


def raw_lines(out: Path) -> list[dict]:
    """Every line of every shard (no dedupe): what the writer really wrote."""
    return [json.loads(line) for p in shard_paths(out) for line in p.read_text().splitlines() if line.strip()]


def in_process(factory, items: list[dict]) -> dict[str, dict]:
    from reasonrank.distributed.rows import parse_row

    pairs = [parse_row(r, "test") for r in items]
    results = factory().rerank_batch(pairs)
    return {q.id: result_record(res, q.id) for (q, _), res in zip(pairs, results)}


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "usage", "traces")} | {
        "traces": [{k: v for k, v in t.items() if k != "seconds"} for t in record["traces"]],
        "windows": record["usage"]["engine_calls"],
    }


def test_two_replicas_one_killed_match_rerank_batch_in_one_process(ray_cluster, tmp_path):
    items = rows(9, n_docs=7)
    write_jsonl(tmp_path / "in.jsonl", items)
    marker = tmp_path / "died"
    # The first replica to make its 2nd engine call exits its process (os._exit), mid-batch.
    factory = ScriptedFactory(exit_marker=str(marker), exit_after=1)
    summary = rerank_dataset(tmp_path / "in.jsonl", tmp_path / "out", factory, ray_options=TWO,
                             show_progress=False)
    assert marker.exists()  # a replica really died
    lines = raw_lines(tmp_path / "out")
    assert sorted(r["query_id"] for r in lines) == sorted(r["query_id"] for r in items)  # once each
    expected = in_process(ScriptedFactory(), items)
    got = {r["query_id"]: r for r in iter_records(tmp_path / "out")}
    for qid, record in expected.items():
        assert comparable(got[qid]) == comparable(record)
        assert got[qid]["results"][0]["id"] == f"{qid}-d-6"  # the scripted model's best
    assert set(got["q0"]) == set(expected["q0"])  # the results.jsonl schema of `reasonrank eval`
    run = read_trec_run(tmp_path / "out" / "run.reranked.trec")
    assert list(run) == [r["query_id"] for r in items]  # input order
    assert [d for d, _ in run["q3"]] == [x["id"] for x in expected["q3"]["results"]]
    assert summary["missing"] == [] and summary["queries_total"] == 9
    windows = sum(r["usage"]["engine_calls"] for r in expected.values())
    assert summary["this_run"]["queries"] == 9 and summary["this_run"]["windows"] == windows
    assert summary["this_run"]["prompt_tokens"] == sum(r["usage"]["prompt_tokens"] for r in expected.values())
    assert summary["this_run"]["fallbacks"] == 0
    assert summary["replicas_load"]["busy_seconds"] > 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["all"]["queries"] == 9


# Leaving Ray Data's iterator on the replica's error interrupts one of its internal threads.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_resume_after_an_interrupted_run(ray_cluster, tmp_path):
    items = rows(6, n_docs=5)
    source = tmp_path / "in.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(items), source)
    one = RayOptions(replicas=1, cpus_per_replica=0.5, batch_size=1)
    # The engine fails after 5 calls (each query takes 2 windows): the run stops part way.
    with pytest.raises(EngineError, match="server went away"):
        rerank_dataset(source, tmp_path / "out", ScriptedFactory(fail_after=5), ray_options=one,
                       show_progress=False)
    first = [r["query_id"] for r in raw_lines(tmp_path / "out")]
    assert 0 < len(first) < 6
    with shard_paths(tmp_path / "out")[-1].open("a") as fh:
        fh.write('{"query_id": "q5", "resu')  # the driver killed mid-write
    with pytest.warns(UserWarning, match="unfinished last line"):
        summary = rerank_dataset(source, tmp_path / "out", ScriptedFactory(), ray_options=one,
                                 show_progress=False)
    assert summary["queries_skipped"] == len(first)
    assert summary["this_run"]["queries"] == 6 - len(first)
    lines = raw_lines(tmp_path / "out")
    assert sorted(r["query_id"] for r in lines) == [f"q{i}" for i in range(6)]
    assert len(shard_paths(tmp_path / "out")) == 2  # the resumed run opened a new shard
    # A third run has nothing left to do and starts no replica.
    again = rerank_dataset(source, tmp_path / "out", ScriptedFactory(), ray_options=one, show_progress=False)
    assert again["this_run"]["queries"] == 0 and again["all"]["queries"] == 6
    with pytest.raises(InvalidInputError, match="other settings"):
        rerank_dataset(source, tmp_path / "out", ScriptedFactory(), ray_options=one, candidates_per_query=2)


def test_tiny_model_end_to_end_equals_one_process(ray_cluster, tmp_path, tiny_model_path):
    from reasonrank.factory import build_reranker

    spec = RerankerSpec(method="pointwise", engine="transformers", model=str(tiny_model_path),
                        engine_options={"device": "cpu", "dtype": "float32"},
                        method_options={"reasoning_budget": 4})
    items = [
        {"query_id": "cats", "query": "what do cats eat",
         "candidates": [{"id": "a", "text": "Cats are carnivores and eat meat."},
                        {"id": "b", "text": "The stock market fell today."},
                        {"id": "c", "text": "Fish live in water."}]},
        {"query_id": "paris", "query": "capital of france",
         "candidates": [{"id": "d", "text": "Paris is the capital of France."},
                        {"id": "e", "text": "Berlin is in Germany."}]},
    ]
    write_jsonl(tmp_path / "in.jsonl", items)
    summary = rerank_dataset(tmp_path / "in.jsonl", tmp_path / "out", spec,
                             ray_options=RayOptions(replicas=1, cpus_per_replica=0.5, batch_size=2),
                             show_progress=False)
    got = {r["query_id"]: r for r in iter_records(tmp_path / "out")}
    local = build_reranker(method="pointwise", engine="transformers", model=str(tiny_model_path),
                           engine_options={"device": "cpu", "dtype": "float32"}, reasoning_budget=4)
    try:
        expected = in_process(lambda: local, items)
    finally:
        local.engine.close()
    for qid, record in expected.items():
        assert [r["id"] for r in got[qid]["results"]] == [r["id"] for r in record["results"]]
        assert [r["score"] for r in got[qid]["results"]] == pytest.approx(
            [r["score"] for r in record["results"]], abs=1e-4)
        assert got[qid]["model"] == str(tiny_model_path)
    assert summary["this_run"]["windows"] == 5  # one engine exchange per (query, passage)
    assert summary["this_run"]["completion_tokens"] > 0


@pytest.fixture
def scripted_cli(monkeypatch):
    import reasonrank.cli.rerank_dataset as cli

    monkeypatch.setattr(cli, "checked_spec", lambda args: ScriptedFactory())


def test_cli_dataset_folder_json_summary(ray_cluster, scripted_cli, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["rerank-dataset", str(EVAL_DATA / "tiny"), "-o", str(out), "--replicas", "2",
               "--cpus-per-replica", "0.5", "--batch-size", "1", "--depth", "4", "--json", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    run = read_trec_run(out / "run.reranked.trec")
    first_stage = read_trec_run(EVAL_DATA / "tiny" / "run.bm25.trec")
    assert list(run) == list(first_stage)  # every query of the run, judged or not
    for qid, docs in run.items():
        assert sorted(d for d, _ in docs) == sorted(d for d, _ in first_stage[qid][:4])
    assert summary["all"]["queries"] == len(first_stage) and summary["missing"] == []
    assert set(summary["this_run"]) >= {"queries", "windows", "prompt_tokens", "completion_tokens", "fallbacks"}


def test_cli_engine_that_cannot_load_exits_3(ray_cluster, tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", rows(2))
    rc = main(["rerank-dataset", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out"), "--no-progress",
               "--cpus-per-replica", "0.5", "--engine", "transformers", "--model", str(tmp_path / "no-model")])
    assert rc == EXIT_ENGINE  # reported once by the replica, not restarted forever
    assert "on a replica" in capsys.readouterr().err
    assert not shard_paths(tmp_path / "out") or not raw_lines(tmp_path / "out")


def test_replicas_that_do_not_fit_are_refused_not_waited_for(ray_cluster, tmp_path):
    write_jsonl(tmp_path / "in.jsonl", rows(2))
    with pytest.raises(InvalidInputError, match="need 3 CPUs .* the cluster has 2 CPUs"):
        rerank_dataset(tmp_path / "in.jsonl", tmp_path / "out", ScriptedFactory(), show_progress=False,
                       ray_options=RayOptions(replicas=2, cpus_per_replica=1.0))


def test_cli_bad_input_rows_exit_2_before_ray(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = rows(1)[0]
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "query_id": "x", "candidates": [{"id": "d"}]}) + "\n")
    assert main(["rerank-dataset", str(bad), "-o", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert f"{bad}:2: query 'x': candidate 'd' has no text" in capsys.readouterr().err
    bad.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    assert main(["rerank-dataset", str(bad), "-o", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert "appears twice" in capsys.readouterr().err
    assert main(["rerank-dataset", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    bad.write_text(json.dumps(good) + "\n")
    assert main(["rerank-dataset", str(bad), "-o", str(tmp_path / "o"), "--preset", "no-such"]) == EXIT_BAD_INPUT
    assert not (tmp_path / "o").exists()  # nothing started, nothing written


def test_served_fleet_endpoints_round_robin_over_replicas():
    spec = RerankerSpec(engine="openai", base_url="http://a:8000/v1, http://b:8000/v1")
    assert [spec.for_replica(i).base_url for i in range(4)] == ["http://a:8000/v1", "http://b:8000/v1"] * 2
    assert RerankerSpec(base_url="http://a/v1").for_replica(3).base_url == "http://a/v1"


def test_served_fleet_of_two_endpoints(ray_cluster, tmp_path, tiny_model_path, capsys):
    from reasonrank.testing.servers.fault_server import fault_server

    write_jsonl(tmp_path / "in.jsonl", rows(6, n_docs=4))
    options = json.dumps({"tokenizer": str(tiny_model_path), "max_retries": 0})
    with fault_server("ok") as (url_a, a), fault_server("ok") as (url_b, b):
        rc = main(["rerank-dataset", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out"), "--json",
                   "--no-progress", "--replicas", "2", "--cpus-per-replica", "0.25", "--batch-size", "1",
                   "--engine", "openai", "--model", "m", "--base-url", f"{url_a},{url_b}",
                   "--engine-options", options])
    assert rc == 0
    # Which replica gets which batch is Ray's choice (on a busy machine the first replica up may
    # take them all): the round-robin itself is checked below.
    summary = json.loads(capsys.readouterr().out)
    assert summary["all"]["queries"] == 6 and summary["this_run"]["windows"] == a.requests + b.requests
    inputs = {r["query_id"]: [c["id"] for c in r["candidates"]] for r in rows(6, n_docs=4)}
    for record in iter_records(tmp_path / "out"):  # the fake server reverses the window
        assert [r["id"] for r in record["results"]] == inputs[record["query_id"]][::-1]


def test_top_k_is_a_deprecated_name_of_candidates_per_query(tmp_path):
    from reasonrank.distributed.actor import RerankActor

    with pytest.warns(DeprecationWarning, match="RerankActor: top_k is deprecated; use candidates_per_query"):
        actor = RerankActor(ScriptedFactory(), top_k=3)
    assert actor.candidates_per_query == 3
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="give only candidates_per_query"):
        RerankActor(ScriptedFactory(), top_k=3, candidates_per_query=4)
    with pytest.warns(DeprecationWarning, match="rerank_dataset: top_k"), pytest.raises(FileNotFoundError):
        rerank_dataset(tmp_path / "nope.jsonl", tmp_path / "out", ScriptedFactory(), top_k=2)
    from reasonrank.distributed import scan_input

    write_jsonl(tmp_path / "in.jsonl", rows(2))
    with pytest.warns(DeprecationWarning, match="scan_input: top_k"):
        assert scan_input(tmp_path / "in.jsonl", top_k=2).query_ids == ["q0", "q1"]
    with pytest.raises(TypeError, match="unexpected keywords"):
        scan_input(tmp_path / "in.jsonl", topk=2)


def test_cli_top_k_still_works_with_a_warning(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rows(1)[0], "candidates": [{"id": "d"}]}) + "\n")
    assert main(["rerank-dataset", str(bad), "-o", str(tmp_path / "o"), "--top-k", "2"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--top-k is deprecated; use --depth" in err and "has no text" in err
