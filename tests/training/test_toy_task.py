"""The toy task, its rule-based teacher and the synthesis filter on it (fast, no model)."""
from __future__ import annotations

from pathlib import Path

from reasonrank.data import Dataset
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.training.examples import read_examples
from reasonrank.training.rewards import is_valid_listwise_format, listwise_reward
from reasonrank.training.synthesize import SynthesisSettings, synthesize
from reasonrank.training.toy_task import (
    ToyTeacher,
    key_match_scores,
    parse_listwise_prompt,
    teacher_output,
    toy_teacher_engine,
    write_toy_task,
)


def test_splits_are_seeded_graded_and_disjoint(tmp_path: Path) -> None:
    a = write_toy_task(tmp_path / "a", train_queries=30, heldout_queries=10, seed=3)
    b = write_toy_task(tmp_path / "b", train_queries=30, heldout_queries=10, seed=3)
    c = write_toy_task(tmp_path / "c", train_queries=30, heldout_queries=10, seed=4)
    for name in ("queries.tsv", "qrels.txt", "corpus.jsonl"):
        assert (a["train"] / name).read_text() == (b["train"] / name).read_text()
    assert (a["train"] / "corpus.jsonl").read_text() != (c["train"] / "corpus.jsonl").read_text()
    train, held = Dataset.load(a["train"]), Dataset.load(a["heldout"])
    assert len(train) == 30 and len(held) == 10
    assert not set(train.queries) & set(held.queries)
    for qid in train.query_ids():
        item = train.item(qid, 6)
        rels = [item.qrels[c.id] for c in item.candidates]
        assert max(rels) == 2 and rels.count(2) == 1
        # The graded relevance is exactly the number of query keys a passage holds.
        assert rels == key_match_scores(item.query.text, [c.text for c in item.candidates])


def test_teacher_reads_the_real_prompt_and_ranks_by_key_matches(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path, train_queries=5, heldout_queries=1, seed=0)
    data = Dataset.load(root["train"])
    item = data.item(data.query_ids()[0], 6)
    engine = toy_teacher_engine(reversed_rate=0.0, truncated_rate=0.0)
    request = ListwiseReranker(engine, window_size=6, stride=6).window_request(item.query, item.candidates)
    query, passages = parse_listwise_prompt(request)
    assert query == item.query.text and passages == [c.text for c in item.candidates]
    text = ToyTeacher(reversed_rate=0.0, truncated_rate=0.0)(request)
    assert text == teacher_output(query, passages)
    assert is_valid_listwise_format(text, 6)
    ids = [c.id for c in item.candidates]
    relevant = [d for d in ids if item.qrels[d] > 0]
    gold = text.split("<answer>")[1].split("</answer>")[0]
    # A perfect ranking gets the reward's maximum: nDCG 1 + 0.2 recall 1 + 0.1 RBO 1.
    assert listwise_reward(text, candidate_ids=ids, gold_answer=gold, relevant_ids=relevant) == 1.3


def test_synthesis_filter_drops_the_teachers_mistakes(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path / "data", train_queries=80, heldout_queries=1, seed=1)
    engine = toy_teacher_engine(reversed_rate=0.2, truncated_rate=0.1, seed=1)
    report = synthesize(root["train"], tmp_path / "out", engine,
                        SynthesisSettings(kinds=("listwise",), window_size=6))
    run = report["listwise"]["this_run"]
    assert run["dropped"].get("format", 0) > 0 and run["dropped"].get("low_ndcg", 0) > 0
    assert run["kept"] + sum(run["dropped"].values()) == 80
    rows = read_examples(tmp_path / "out" / "listwise.jsonl")
    assert len(rows) == run["kept"] and all(r["teacher_ndcg10"] > 0.4 for r in rows)
    for r in rows:
        assert is_valid_listwise_format(r["messages"][-1]["content"], 6)
