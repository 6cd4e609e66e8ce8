"""Teachers in every form, the loss each one calls for, and bad input: one clear error each."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sentence_transformers")

from distill_helpers import doc_ids, make_dataset, settings, write_run
from reasonrank.errors import InvalidInputError
from reasonrank.testing.tiny_encoder import tiny_bi_encoder_dir, tiny_cross_encoder_dir
from reasonrank.training.distill import distill
from reasonrank.training.distill.data import load_distill_data
from reasonrank.training.distill.teachers import gives_of, load_teacher, recorded_teacher


@pytest.fixture()
def data(tmp_path):
    return make_dataset(tmp_path / "data")


def reversed_ranking(n: int = 6) -> dict[str, list[str]]:
    return {f"q{q}": list(reversed(doc_ids(q))) for q in range(n)}


def test_a_run_with_rank_scores_is_an_order_and_trains_with_ranknet(data, tmp_path) -> None:
    run = write_run(tmp_path / "teacher.trec", reversed_ranking())
    record = distill(data, str(run), tmp_path / "s", settings(tiny_bi_encoder_dir(), epochs=1))
    assert record["teacher"]["gives"] == "order" and record["loss"] == "ranknet"
    assert gives_of([1.0, 0.5, 1 / 3]) == "order" and gives_of([3.0, 2.0, 1.0]) == "order"
    assert gives_of([12.5, 11.0, 3.2]) == "scores"


def test_a_teacher_covering_other_queries_names_the_missing_ids(data, tmp_path) -> None:
    ranking = reversed_ranking()
    del ranking["q2"], ranking["q4"]
    ranking["elsewhere"] = ["x1", "x2"]
    run = write_run(tmp_path / "partial.trec", ranking)
    with pytest.raises(InvalidInputError, match=r"no ranking for 2 of the 6 queries: q2, q4"):
        distill(data, str(run), tmp_path / "s", settings(tiny_bi_encoder_dir()))
    foreign = write_run(tmp_path / "foreign.trec", {f"q{q}": ["x1", "x2"] for q in range(6)})
    with pytest.raises(InvalidInputError, match="q0 ranks none of its first-stage candidates"):
        distill(data, str(foreign), tmp_path / "s2", settings(tiny_bi_encoder_dir()))


def test_empty_and_one_candidate_queries_are_skipped_and_counted(tmp_path) -> None:
    rows = [{"query_id": f"q{q}", "query": f"topic {q}", "qrels": {f"q{q}d1": 1},
             "candidates": [{"id": f"q{q}d{i}", "text": f"topic {q} passage {i}"} for i in range(6)]} for q in range(4)]
    rows.append({"query_id": "empty", "query": "nothing", "candidates": []})
    rows.append({"query_id": "single", "query": "one", "candidates": [{"id": "s1", "text": "only"}]})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_distill_data(path, depth=6)
    assert data.skipped == {"empty": "no candidates", "single": "one candidate"} and len(data.items) == 4
    record = distill(path, "qrels", tmp_path / "s", settings(tiny_bi_encoder_dir(), depth=6, epochs=1))
    assert record["data"]["skipped"] == 2 and set(record["data"]["skipped_queries"]) == {"empty", "single"}
    assert record["data"]["train_queries"] == 4


def test_a_student_that_is_not_an_encoder_is_refused(data, tmp_path) -> None:
    causal = tmp_path / "causal"
    causal.mkdir()
    (causal / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}))
    with pytest.raises(InvalidInputError, match="generative model"):
        distill(data, "qrels", tmp_path / "s", settings(causal))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="not a model folder"):
        distill(data, "qrels", tmp_path / "s", settings(empty))
    with pytest.raises(InvalidInputError, match="does not exist"):
        distill(data, "qrels", tmp_path / "s", settings(tmp_path / "nowhere"))
    with pytest.raises(InvalidInputError, match="cross-encoder; train it with kind 'cross'"):
        distill(data, "qrels", tmp_path / "s", settings(tiny_cross_encoder_dir()))
    assert not (tmp_path / "s").exists()  # refused before anything is written


def test_a_spec_teacher_runs_once_into_a_resumable_results_file(data, tmp_path) -> None:
    spec = json.dumps({"method": "dense", "model": str(tiny_bi_encoder_dir(seed=3))})
    record = distill(data, spec, tmp_path / "s", settings(tiny_bi_encoder_dir(), epochs=1))
    assert record["teacher"]["gives"] == "scores" and record["loss"] == "kl" and record["teacher"]["method"] == "dense"
    results = tmp_path / "s" / "teacher" / "results.jsonl"
    lines = results.read_text().splitlines()
    assert len(lines) == 6
    # the teacher output folder is itself a recorded teacher; a rerun reads it, reranks nothing
    assert recorded_teacher(tmp_path / "s" / "teacher").rankings.keys() == {f"q{q}" for q in range(6)}
    items = load_distill_data(data, depth=8).items
    again = load_teacher(spec, items, tmp_path / "s" / "teacher")
    assert results.read_text().splitlines() == lines and again.gives == "scores"


def test_a_cross_encoder_teacher_and_a_dense_student_train_with_margin_mse(data, tmp_path) -> None:
    spec = json.dumps({"method": "cross", "model": str(tiny_cross_encoder_dir())})
    record = distill(data, spec, tmp_path / "s", settings(tiny_bi_encoder_dir(), epochs=1))
    assert record["loss"] == "margin-mse"


def test_synthesis_and_rerank_dataset_outputs_are_teachers(tmp_path) -> None:
    syn = tmp_path / "syn"
    syn.mkdir()
    (syn / "listwise.jsonl").write_text(json.dumps({"kind": "listwise", "qid": "q0", "final_list": ["b", "a"]}) + "\n")
    teacher = recorded_teacher(syn)
    assert teacher.gives == "order" and teacher.rankings == {"q0": ["b", "a"]}
    shards = tmp_path / "rd" / "shards"
    shards.mkdir(parents=True)
    rec = {"query_id": "q0", "method": "pointwise", "results": [{"id": "a", "score": 0.9}, {"id": "b", "score": 0.2}]}
    (shards / "results-00000.jsonl").write_text(json.dumps(rec) + "\n")
    teacher = recorded_teacher(tmp_path / "rd")
    assert teacher.gives == "scores" and teacher.scores["q0"] == {"a": 0.9, "b": 0.2} and teacher.method == "pointwise"
    with pytest.raises(InvalidInputError, match="holds no teacher output"):
        recorded_teacher(tmp_path)


def test_settings_are_checked_before_anything_runs(data, tmp_path) -> None:
    from reasonrank.training.distill import DistillSettings

    for bad in ({"kind": "sparse"}, {"epochs": 0}, {"group_size": 1}, {"eval_split": 1.0}, {"loss": "mse"}):
        with pytest.raises(InvalidInputError):
            DistillSettings(**bad)
    order_only = str(write_run(tmp_path / "t.trec", reversed_ranking()))
    with pytest.raises(InvalidInputError, match="needs teacher scores"):
        distill(data, order_only, tmp_path / "s", settings(tiny_bi_encoder_dir(), loss="kl", epochs=1))


def test_a_built_reranker_is_a_teacher_too(data, tmp_path) -> None:
    from reasonrank import load_reranker

    teacher = load_reranker(method="dense", model=str(tiny_bi_encoder_dir(seed=3)))
    record = distill(data, teacher, tmp_path / "s", settings(tiny_bi_encoder_dir(), epochs=1))
    assert record["teacher"]["method"] == "dense" and record["teacher"]["gives"] == "scores"
    config = json.loads((tmp_path / "s" / "distill_config.json").read_text())
    assert config["teacher"].startswith("dense (")
