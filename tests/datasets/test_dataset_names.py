"""Benchmark names: folders first, aliases, BRIGHT tasks, ir_datasets ids."""
from __future__ import annotations

import pytest
from dataset_helpers import EXAMPLE_CORPUS
from reasonrank.datasets import BRIGHT_TASKS, resolve
from reasonrank.errors import InvalidInputError


@pytest.mark.parametrize(("name", "kind", "ident"), [
    ("dl19", "ir_datasets", "msmarco-passage/trec-dl-2019/judged"),
    ("DL20", "ir_datasets", "msmarco-passage/trec-dl-2020/judged"),
    ("msmarco-passage/trec-dl-2019/judged", "ir_datasets", "msmarco-passage/trec-dl-2019/judged"),
    ("beir/scifact", "ir_datasets", "beir/scifact/test"),
    ("beir/scifact/test", "ir_datasets", "beir/scifact/test"),
    ("beir/trec-covid", "ir_datasets", "beir/trec-covid"),  # a single split: no /test
    ("beir/cqadupstack/android", "ir_datasets", "beir/cqadupstack/android"),
    ("bright/biology", "bright", "biology"),
    ("bright/theoremqa_questions", "bright", "theoremqa_questions"),
])
def test_names_resolve(name, kind, ident):
    ref = resolve(name)
    assert (ref.kind, ref.id, ref.name) == (kind, ident, name)


def test_a_folder_wins_over_a_name(tmp_path, monkeypatch):
    assert resolve(str(EXAMPLE_CORPUS)).kind == "folder"
    (tmp_path / "bright" / "biology").mkdir(parents=True)  # the old README's folder layout
    monkeypatch.chdir(tmp_path)
    assert resolve("bright/biology").kind == "folder"


def test_bright_has_twelve_tasks():
    assert len(BRIGHT_TASKS) == 12 and len(set(BRIGHT_TASKS)) == 12


@pytest.mark.parametrize(("name", "message"), [
    ("bright/zoology", "unknown BRIGHT task 'zoology'"),
    ("beir/no-such-set", "not an ir_datasets id"),
    ("nonsense", "neither a folder nor a known dataset name"),
    ("  ", "empty"),
])
def test_unknown_names_fail_clearly(name, message):
    with pytest.raises(InvalidInputError, match=message):
        resolve(name)
