"""TREC DL / BEIR through ir_datasets: the real ids, loaded from a seeded ir_datasets cache
(no network), and the error when a named dataset is neither cached nor downloadable."""
from __future__ import annotations

import json
import time

from dataset_helpers import IDENTITY_RERANKER, SCIFACT_QRELS, offline_env, run_cli, seed_scifact
from reasonrank.cli import EXIT_BAD_INPUT


def test_beir_scifact_from_the_ir_datasets_cache(tmp_path):
    env = offline_env(tmp_path)
    seed_scifact(tmp_path / "irds")
    out = tmp_path / "out"
    proc = run_cli(["eval", "beir/scifact", "--output", str(out), "--top-k", "3",
                    "--measures", "nDCG@10", "R@100", *IDENTITY_RERANKER], env)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "beir/scifact/test"  # beir/<name> picks the test split
    first = metrics["first_stage"]
    assert first["source"] == "bm25s" and first["corpus"] == "ir_datasets:beir/scifact"
    assert first["dataset"] == {"kind": "ir_datasets", "id": "beir/scifact/test"}
    assert first["index"].startswith(str(tmp_path / "rr-cache"))
    # Only the judged queries of the test split; BM25 finds each one's relevant passage first.
    assert metrics["num_queries"] == len(SCIFACT_QRELS) == 2
    assert metrics["mean"]["first_stage"]["nDCG@10"] == 1.0
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["query_id"] for r in results} == {"1", "2"}

    # The same command again reuses the cached bm25s run (no index build, no download).
    proc = run_cli(["eval", "beir/scifact", "--output", str(tmp_path / "again"), "--top-k", "3",
                    *IDENTITY_RERANKER], env)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["first_stage"]["cached"] == "run" and again["num_queries"] == 2


def test_dl19_not_cached_offline_is_one_clear_error(tmp_path):
    start = time.perf_counter()
    proc = run_cli(["eval", "dl19", "--output", str(tmp_path / "out"), *IDENTITY_RERANKER], offline_env(tmp_path))
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert time.perf_counter() - start < 60
    err = [line for line in proc.stderr.splitlines() if line.startswith("reasonrank: error:")]
    assert len(err) == 1, proc.stderr
    message = err[0]
    assert "msmarco-passage/trec-dl-2019/judged" in message  # what is missing
    assert str(tmp_path / "irds") in message and "IR_DATASETS_HOME" in message  # where it is looked for
    assert "local dataset folder" in message  # how to provide it instead
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_unknown_ir_datasets_id_is_bad_input(tmp_path):
    proc = run_cli(["eval", "beir/no-such-set", "--output", str(tmp_path / "o"), *IDENTITY_RERANKER],
                   offline_env(tmp_path))
    assert proc.returncode == EXIT_BAD_INPUT
    assert "not an ir_datasets id" in proc.stderr and "beir/<name>" in proc.stderr
