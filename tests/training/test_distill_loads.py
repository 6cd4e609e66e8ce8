"""A student trained a few steps loads, unchanged, in every entry point and returns every id once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")

from distill_helpers import doc_ids, make_dataset, settings
from reasonrank import load_reranker
from reasonrank.cli import main
from reasonrank.testing.tiny_encoder import tiny_bi_encoder_dir
from reasonrank.training.distill import distill

DOCS = [{"id": f"d{i}", "text": t} for i, t in enumerate(
    ["fleas live two or three months", "concrete costs vary", "a flea's life cycle", "piano lessons", "coffee"])]


@pytest.fixture(scope="module")
def dense_student(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("distill")
    data = make_dataset(root / "data")
    record = distill(data, "qrels", root / "student", settings(tiny_bi_encoder_dir(), eval_split=0.34))
    return root / "student", record


def test_the_record_and_card_say_what_taught_the_student(dense_student) -> None:
    out, record = dense_student
    assert record["loss"] == "ranknet" and record["teacher"]["gives"] == "grades"
    assert record["training"]["finished"] and record["training"]["steps"] == 4  # 4 training queries, 2 a step, 2 epochs
    assert record["data"]["train_queries"] == 4 and record["data"]["heldout_queries"] == 2
    held = record["heldout"]
    assert held["teacher"]["agreement"] == 1.0 and held["first_stage"]["tau_first_stage"] == 1.0
    assert 0.0 <= held["student"]["ndcg10"] <= 1.0 and held["base"]["ndcg10"] is not None
    card = (out / "README.md").read_text()
    assert "qrels" in card and "ranknet" in card and "| seed | 42 |" in card and "Held-out queries (2" in card
    assert json.loads((out / "distill.json").read_text())["loss"] == "ranknet"
    assert not (out / "checkpoint").exists()  # dropped once the student is saved


def test_python_load_reranker_returns_every_id_once(dense_student) -> None:
    out, _ = dense_student
    reranker = load_reranker(method="dense", model=str(out))
    result = reranker.rerank("how long do fleas live", DOCS)
    assert sorted(r.candidate.id for r in result.ranked) == sorted(d["id"] for d in DOCS)
    assert reranker.engine.model_path == str(out)


def test_cli_rerank_json_returns_every_id_once(dense_student, tmp_path, capsys) -> None:
    out, _ = dense_student
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    code = main(["rerank", "--query", "how long do fleas live", "--docs", str(docs), "--method", "dense",
                 "--model", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and sorted(r["id"] for r in doc["results"]) == sorted(d["id"] for d in DOCS)


def test_llama_index_wrapper_loads_the_student(dense_student) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_reasonrank import ReasonRankRerank

    out, _ = dense_student
    nodes = [NodeWithScore(node=TextNode(text=d["text"], id_=d["id"]), score=0.0) for d in DOCS]
    ranked = ReasonRankRerank(method="dense", model=str(out), top_n=len(DOCS)).postprocess_nodes(
        nodes, query_str="how long do fleas live")
    assert sorted(n.node.node_id for n in ranked) == sorted(d["id"] for d in DOCS)


def test_a_cross_student_gets_a_head_and_loads_with_method_cross(tmp_path) -> None:
    data = make_dataset(tmp_path / "data")
    record = distill(data, "qrels", tmp_path / "cross", settings(tiny_bi_encoder_dir(), kind="cross", eval_split=0.34))
    assert record["settings"]["kind"] == "cross" and record["heldout"]["base_model"].startswith("dense ")
    config = json.loads((tmp_path / "cross" / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "CrossEncoder"
    reranker = load_reranker(method="cross", model=str(tmp_path / "cross"))
    ids = doc_ids(0)
    result = reranker.rerank("how long do fleas last", [{"id": i, "text": f"text {i}"} for i in ids])
    assert sorted(r.candidate.id for r in result.ranked) == sorted(ids)


def test_cli_train_distill_prints_the_record(tmp_path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    code = main(["train", "distill", str(data), "--teacher", "qrels", "--output", str(tmp_path / "s"),
                 "--student", str(tiny_bi_encoder_dir()), "--epochs", "1", "--group-size", "4",
                 "--queries-per-step", "3", "--depth", "8", "--json", "--no-progress"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["training"]["steps"] == 2 and record["settings"]["seed"] == 42
    assert (tmp_path / "s" / "modules.json").is_file()
