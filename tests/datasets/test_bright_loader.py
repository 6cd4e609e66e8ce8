"""BRIGHT through HF datasets: a local copy in the hub repo's parquet layout (no network),
excluded ids removed from every run, and the error when the hub data is not cached."""
from __future__ import annotations

import pytest
from dataset_helpers import (
    BRIGHT_DOCUMENTS,
    IDENTITY_RERANKER,
    make_bright_copy,
    offline_env,
    run_cli,
)
from reasonrank.cli import EXIT_BAD_INPUT
from reasonrank.data import write_trec_run
from reasonrank.datasets import bm25_run, load_collection, load_dataset
from reasonrank.errors import DataUnavailableError

COPY = "biology/birds_dawn_copy.txt"  # excluded for query 0, and its best lexical match


@pytest.fixture
def bright(tmp_path):
    return make_bright_copy(tmp_path / "BRIGHT")


def test_examples_and_documents_become_queries_qrels_and_corpus(bright, tmp_path):
    col = load_collection("bright/biology", data_dir=bright)
    assert col.name == "bright/biology"
    assert col.queries == {"0": "why do birds sing at dawn", "1": "how do plants drink water"}
    assert col.qrels == {"0": {"biology/birds_dawn.txt": 1}, "1": {"biology/roots.txt": 1}}
    assert col.excluded == {"0": {COPY}}  # "N/A" is BRIGHT's "nothing excluded"
    assert [d.id for d in col.iter_docs()] == BRIGHT_DOCUMENTS["id"]
    docs = col.get_docs(["biology/roots.txt", "nope"])
    assert list(docs) == ["biology/roots.txt"] and docs["biology/roots.txt"].text.startswith("Plants take up")


def test_excluded_ids_are_removed_from_the_bm25s_run(bright, tmp_path):
    col = load_collection("bright/biology", data_dir=bright)
    col.excluded = {}
    unfiltered, _, _ = bm25_run(col, depth=3, cache_dir=tmp_path, show_progress=False)
    assert unfiltered["0"][0][0] == COPY  # it would be first without the exclusion
    ds = load_dataset("bright/biology", data_dir=bright, depth=3, cache_dir=tmp_path, show_progress=False)
    assert COPY not in [d for d, _ in ds.run["0"]]
    assert ds.run["0"][0][0] == "biology/birds_dawn.txt"
    assert ds.first_stage["dataset"] == {"kind": "bright", "task": "biology", "data_dir": str(bright)}
    assert ds.query_ids() == ["0", "1"]


def test_excluded_ids_are_removed_from_a_given_run(bright, tmp_path):
    run = tmp_path / "run.reasonir.trec"
    write_trec_run(run, {"0": [(COPY, 3.0), ("biology/birds_dawn.txt", 2.0), ("biology/cats.txt", 1.0)]})
    ds = load_dataset("bright/biology", run=run, data_dir=bright, show_progress=False)
    assert ds.run == {"0": [("biology/birds_dawn.txt", 2.0), ("biology/cats.txt", 1.0)]}
    assert ds.first_stage["source"] == "file" and ds.first_stage["path"] == str(run)
    assert set(ds.corpus) == {"biology/birds_dawn.txt", "biology/cats.txt"}


def test_a_data_dir_without_the_task_says_what_it_needs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailableError, match=r"biology-\*\.parquet.*hf download xlangai/BRIGHT"):
        load_collection("bright/biology", data_dir=tmp_path / "empty")


def test_bright_not_cached_offline_is_one_clear_error(tmp_path):
    proc = run_cli(["eval", "bright/biology", "--output", str(tmp_path / "out"), *IDENTITY_RERANKER],
                   offline_env(tmp_path))
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.startswith("reasonrank: error:")]
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "BRIGHT task 'biology'" in err[0] and "xlangai/BRIGHT" in err[0]
    assert "--data-dir DIR" in err[0] and "local dataset folder" in err[0]


def test_eval_a_local_bright_copy_from_the_command_line(bright, tmp_path):
    import json

    out = tmp_path / "out"
    proc = run_cli(["eval", "bright/biology", "--data-dir", str(bright), "--output", str(out),
                    "--top-k", "2", "--measures", "nDCG@10", *IDENTITY_RERANKER], offline_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "bright/biology" and metrics["num_queries"] == 2
    assert metrics["first_stage"]["source"] == "bm25s"
    assert metrics["mean"]["first_stage"]["nDCG@10"] == 1.0
