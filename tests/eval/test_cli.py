"""`reasonrank eval` and `reasonrank bench` through the command line."""
from __future__ import annotations

import json

import pytest
from eval_helpers import CountingEngine, ScriptRanker, oracle_fn
from reasonrank.cli import EXIT_BAD_INPUT, EXIT_ENGINE, main
from reasonrank.data import Dataset, read_trec_run


@pytest.fixture
def scripted(monkeypatch, tiny_dir):
    """Make the CLI build a ScriptRanker over a counting scripted engine (no model needed)."""
    qrels = Dataset.load(tiny_dir).qrels
    made: list[tuple[CountingEngine, dict]] = []

    def build(args, layers=(), **_):
        from reasonrank.scheduling import compose

        engine = CountingEngine(oracle_fn(qrels), delay_fn=lambda r: 0.01, model_name="oracle",
                                max_batch_size=2)
        made.append((engine, vars(args)))
        return ScriptRanker(compose(engine, *layers), on_error=args.on_error or "raise")

    import reasonrank.cli.bench
    import reasonrank.cli.common

    monkeypatch.setattr(reasonrank.cli.common, "reranker_from_args", build)
    monkeypatch.setattr(reasonrank.cli.bench, "reranker_from_args", build)
    return made


def test_eval_command(scripted, tiny_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_dir), "--output", str(out), "--depth", "100", "--limit-queries", "2",
               "--batch-size", "2", "--no-progress", "--measures", "nDCG@10", "RR@10"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "nDCG@10" in printed and "first stage" in printed and "(2 queries, top-100 reranked)" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["measures"] == ["nDCG@10", "RR@10"]
    assert metrics["mean"]["reranker"]["nDCG@10"] == pytest.approx(1.0)
    assert list(read_trec_run(out / "run.reranked.trec")) == ["q1", "q2"]
    engine, args = scripted[0]
    assert [len(r) for _, r in engine.calls] == [2]
    assert args["limit_queries"] == 2 and args["method"] is None


def test_eval_default_batch_is_the_engines(scripted, tiny_dir, tmp_path):
    assert main(["eval", str(tiny_dir), "-o", str(tmp_path), "--no-progress"]) == 0
    engine, _ = scripted[0]
    assert [len(r) for _, r in engine.calls] == [2, 1]


def test_eval_command_exit_codes(scripted, tiny_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("queries.tsv", "qrels.txt", "corpus.jsonl"):
        (bad / name).write_text((tiny_dir / name).read_text())
    (bad / "run.bm25.trec").write_text("q1 Q0 q1d0 1 1.0\n")
    assert main(["eval", str(bad), "-o", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert f"{bad / 'run.bm25.trec'}:1: expected 6 fields" in capsys.readouterr().err
    assert scripted == []  # the data failed before a reranker was built


def test_eval_engine_failure_exit_code_then_resume(monkeypatch, tiny_dir, tmp_path, capsys):
    qrels = Dataset.load(tiny_dir).qrels
    engines = [CountingEngine(oracle_fn(qrels), fail_after=1), CountingEngine(oracle_fn(qrels))]
    import reasonrank.cli.eval

    monkeypatch.setattr(reasonrank.cli.common, "reranker_from_args", lambda args: ScriptRanker(engines.pop(0)))
    argv = ["eval", str(tiny_dir), "-o", str(tmp_path), "--batch-size", "1", "--no-progress"]
    assert main(argv) == EXIT_ENGINE
    assert "server went away" in capsys.readouterr().err
    assert main(argv) == 0
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3


def test_bench_command_writes_json_and_png(scripted, tiny_dir, tmp_path, capsys):
    out = tmp_path / "bench"
    rc = main(["bench", str(tiny_dir), "-o", str(out), "--depth", "5", "--warmup", "1", "--no-progress"])
    assert rc == 0
    report = json.loads((out / "bench.json").read_text())
    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert report["num_queries"] == 3 and report["num_passages"] == 15
    # The default batch is the engine's max_batch_size (2): q1 q2 | q3, after 1 warm-up call.
    assert report["batch_size"] == 2 and report["model"] == "oracle"
    engine, _ = scripted[0]
    assert [len(r) for _, r in engine.calls] == [1, 2, 1] and report["engine_calls"] == 2
    assert report["engine_seconds"] >= 0.02  # the scripted engine sleeps 10 ms per call
    assert report["engine_seconds"] <= report["total_seconds"]
    assert report["overhead_seconds"] == pytest.approx(report["total_seconds"] - report["engine_seconds"])
    lat = report["latency_seconds"]
    assert 0.01 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    # A query's latency is its batch's wall time: q1 and q2 share one.
    assert report["per_query"][0]["latency_seconds"] == report["per_query"][1]["latency_seconds"]
    assert report["queries_per_second"] == pytest.approx(3 / report["total_seconds"])
    assert report["passages_per_second"] == pytest.approx(15 / report["total_seconds"])
    # The scripted engine counts whitespace words: the oracle answer has 5 ids per query.
    assert report["generated_tokens"] == 15
    assert "q/s" in capsys.readouterr().out


def test_an_explicit_depth_overrides_the_presets_depth(tiny_dir, tmp_path, capsys):
    """``--depth K`` reranks K candidates even when the reranker's own depth is smaller (the
    ``embedded-relevance`` preset says 20; issue 27's top-100 arm reranked only 20 before)."""
    def windows(*extra: str) -> tuple[int, str]:
        out = tmp_path / "-".join(extra or ("default",))
        assert main(["eval", str(tiny_dir), "-o", str(out), "--method", "listwise", "--engine", "scripted",
                     "--method-options", '{"depth": 2, "window_size": 2, "stride": 1}', "--limit-queries", "1",
                     "--no-progress", "--cache", "off", *extra]) == 0
        row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
        return sum(t["kind"] == "window" for t in row["traces"]), capsys.readouterr().out

    count, printed = windows()
    assert count == 1 and "top-2 of the top-100 reranked" in printed  # the reranker's own depth, said so
    count, printed = windows("--depth", "4")
    assert count == 3 and "(1 queries, top-4 reranked" in printed  # 4 candidates: windows 3-4, 2-3, 1-2
