"""The bm25s first stage on the shipped example corpus (examples/corpus, real MS MARCO passages)."""
from __future__ import annotations

import json
import re
import shutil

import pytest
from dataset_helpers import EXAMPLE_CORPUS
from reasonrank.data import read_corpus_jsonl, read_trec_run, write_trec_run
from reasonrank.datasets import Collection, bm25_run, folder_collection, load_dataset
from reasonrank.datasets.bm25 import load_or_build


@pytest.fixture
def example() -> Collection:
    return folder_collection(EXAMPLE_CORPUS, corpus="passages.jsonl")


def test_run_has_every_query_with_decreasing_scores(example, tmp_path):
    run, run_file, info = bm25_run(example, depth=10, cache_dir=tmp_path, show_progress=False)
    assert set(run) == {q for q in example.queries if example.qrels.get(q)} == set(example.queries)
    for qid, docs in run.items():
        assert 1 <= len(docs) <= 10, qid
        scores = [s for _, s in docs]
        assert scores == sorted(scores, reverse=True) and scores[-1] > 0, qid
        assert len({d for d, _ in docs}) == len(docs)
    assert info["source"] == "bm25s" and info["depth"] == 10 and info["cached"] == "none"
    assert (info["k1"], info["b"]) == (0.9, 0.4)  # Anserini's MS MARCO passage BM25
    assert json.loads(run_file.read_text()) == {q: [list(p) for p in d] for q, d in run.items()}


def test_passage_with_the_query_words_ranks_above_one_without(example, tmp_path):
    run, _, _ = bm25_run(example, depth=60, cache_dir=tmp_path, show_progress=False)
    docs = read_corpus_jsonl(EXAMPLE_CORPUS / "passages.jsonl")
    ranked = [d for d, _ in run["130510"]]  # "definition declaratory judgment"
    words = ("definition", "declaratory", "judgment")
    all_words = [d for d, c in docs.items() if all(w in c.content().lower() for w in words)]
    no_word = [d for d, c in docs.items() if not re.search("|".join(words), c.content().lower())]
    assert all_words == ["8612903"] and len(no_word) > 30  # Wiktionary's "definition: declaratory judgment"
    assert ranked[0] == "8612903"
    # A passage sharing no word with the query scores 0 and is not retrieved: every one of them
    # ranks below the passages that have the query's words.
    assert not set(no_word) & set(ranked)
    assert "1110766" in ranked  # "...seek a declaratory judgment..." (two of the three words)


def test_index_built_once_and_reused_from_the_cache(example, tmp_path, monkeypatch):
    import bm25s

    _, _, first = bm25_run(example, depth=5, cache_dir=tmp_path, show_progress=False)
    assert first["cached"] == "none"
    index = load_or_build(example, cache_dir=tmp_path, show_progress=False)
    assert not index.built and (index.path / "doc_ids.json").is_file()

    def no_rebuild(*a, **k):
        raise AssertionError("the index was rebuilt instead of loaded from the cache")

    monkeypatch.setattr(bm25s.BM25, "index", no_rebuild)
    run20, _, second = bm25_run(example, depth=20, cache_dir=tmp_path, show_progress=False)
    assert second["cached"] == "index" and second["index"] == first["index"]
    run20_again, _, third = bm25_run(example, depth=20, cache_dir=tmp_path, show_progress=False)
    assert third["cached"] == "run" and run20_again == run20
    # Another corpus gets another index.
    other = tmp_path / "other"
    other.mkdir()
    for name in ("queries.tsv", "qrels.txt"):
        shutil.copy(EXAMPLE_CORPUS / name, other / name)
    lines = (EXAMPLE_CORPUS / "passages.jsonl").read_text().splitlines()[:30]
    (other / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.undo()
    _, _, fresh = bm25_run(folder_collection(other), depth=5, cache_dir=tmp_path, show_progress=False)
    assert fresh["cached"] == "none" and fresh["index"] != first["index"]


def test_excluded_documents_never_appear_and_depth_is_kept(example, tmp_path):
    full, _, _ = bm25_run(example, depth=5, cache_dir=tmp_path, show_progress=False)
    banned = {q: {d for d, _ in docs[:2]} for q, docs in full.items()}
    example.excluded = banned
    run, _, _ = bm25_run(example, depth=5, cache_dir=tmp_path, show_progress=False)
    for qid, docs in run.items():
        ids = [d for d, _ in docs]
        assert not banned[qid] & set(ids)
        assert ids[:3] == [d for d, _ in full[qid][2:5]]
        assert len(ids) == 5  # refilled from deeper in the ranking


def _folder(tmp_path, with_run: bool):
    folder = tmp_path / "ds"
    folder.mkdir()
    for name in ("queries.tsv", "qrels.txt"):
        shutil.copy(EXAMPLE_CORPUS / name, folder / name)
    shutil.copy(EXAMPLE_CORPUS / "passages.jsonl", folder / "corpus.jsonl")
    if with_run:
        ids = [json.loads(line)["id"] for line in (folder / "corpus.jsonl").read_text().splitlines()]
        write_trec_run(folder / "run.bm25.trec", {"264014": [(d, 10.0 - i) for i, d in enumerate(ids[:3])]})
    return folder


def test_folder_without_a_run_gets_bm25s(tmp_path):
    ds = load_dataset(_folder(tmp_path, with_run=False), depth=7, cache_dir=tmp_path / "c", show_progress=False)
    assert ds.first_stage["source"] == "bm25s" and ds.first_stage["dataset"]["kind"] == "folder"
    assert len(ds.query_ids()) == 4 and all(len(ds.run[q]) <= 7 for q in ds.run)
    assert {d for docs in ds.run.values() for d, _ in docs} == set(ds.corpus)
    item = ds.item("264014", top_k=3)
    assert [c.id for c in item.candidates] == [d for d, _ in ds.run["264014"][:3]]
    assert item.candidates[0].score == ds.run["264014"][0][1]


def test_folder_with_a_run_keeps_it_unless_bm25s_is_asked(tmp_path):
    folder = _folder(tmp_path, with_run=True)
    shipped = load_dataset(folder, cache_dir=tmp_path / "c", show_progress=False)
    assert shipped.first_stage == {"source": "file", "path": str(folder / "run.bm25.trec")}
    assert shipped.run == read_trec_run(folder / "run.bm25.trec")
    ours = load_dataset(folder, first_stage="bm25s", cache_dir=tmp_path / "c", show_progress=False)
    assert ours.first_stage["source"] == "bm25s" and len(ours.run) == 4
    with pytest.raises(ValueError, match="not both"):
        load_dataset(folder, run=folder / "run.bm25.trec", first_stage="bm25s")


def test_evaluate_takes_a_name_and_records_the_first_stage(tmp_path, monkeypatch):
    from reasonrank.evaluate import evaluate
    from reasonrank.factory import build_reranker

    monkeypatch.setenv("REASONRANK_CACHE", str(tmp_path / "cache"))
    reranker = build_reranker(method="listwise", engine="scripted", on_error="keep_order")
    doc = evaluate(reranker, str(_folder(tmp_path, with_run=False)), tmp_path / "out", top_k=5,
                   show_progress=False, measures=["nDCG@10"])
    assert doc["first_stage"]["source"] == "bm25s" and doc["first_stage"]["depth"] == 100
    assert doc["first_stage"]["index"].startswith(str(tmp_path / "cache"))
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["first_stage"] == doc["first_stage"] and saved["num_queries"] == 4


def test_a_bm25s_evaluation_resumes(tmp_path, monkeypatch):
    from reasonrank.evaluate import evaluate
    from reasonrank.factory import build_reranker

    monkeypatch.setenv("REASONRANK_CACHE", str(tmp_path / "cache"))
    folder = str(_folder(tmp_path, with_run=False))
    fresh = build_reranker(method="listwise", engine="scripted", on_error="keep_order")
    first = evaluate(fresh, folder, tmp_path / "out", top_k=5, limit_queries=2, show_progress=False)
    assert len(fresh.engine.calls) >= 1
    reranker = build_reranker(method="listwise", engine="scripted", on_error="keep_order")
    again = evaluate(reranker, folder, tmp_path / "out", top_k=5, limit_queries=2, show_progress=False)
    assert reranker.engine.calls == []  # both queries came from results.jsonl
    assert again["first_stage"]["cached"] == "run" and first["first_stage"]["cached"] == "none"
    assert again["first_stage_run"] == first["first_stage_run"] and again["mean"] == first["mean"]


def test_a_query_matching_no_word_of_the_corpus_leaves_the_run(example, tmp_path):
    example.queries["nothing"] = "zzyzx qwxv"
    example.qrels["nothing"] = {"5611210": 1}
    run, _, info = bm25_run(example, depth=5, cache_dir=tmp_path, show_progress=False)
    assert "nothing" not in run and info["queries_without_results"] == ["nothing"]
    assert len(run) == 4
    _, _, again = bm25_run(example, depth=5, cache_dir=tmp_path, show_progress=False)
    assert again["cached"] == "run" and again["queries_without_results"] == ["nothing"]


def test_bench_command_builds_the_first_stage(tmp_path, capsys):
    from reasonrank.cli import main

    folder = _folder(tmp_path, with_run=False)
    out = tmp_path / "bench"
    rc = main(["bench", str(folder), "--output", str(out), "--top-k", "5", "--limit-queries", "2",
               "--warmup", "0", "--cache-dir", str(tmp_path / "c"), "--first-stage-depth", "8",
               "--engine", "scripted", "--method", "listwise", "--on-error", "keep_order", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "bench.json").read_text())
    assert report["first_stage"]["source"] == "bm25s" and report["first_stage"]["depth"] == 8
    assert report["first_stage"]["index"].startswith(str(tmp_path / "c"))
    assert report["num_queries"] == 2 and all(p["passages"] == 5 for p in report["per_query"])
