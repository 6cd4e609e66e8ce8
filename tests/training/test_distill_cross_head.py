"""A cross student's new relevance head trains. Fitted alone on the frozen encoder first (LP-FT,
``training/distill/head.py``), its RankNet loss falls clearly below ln 2 (the loss of flat logits)
and the student's scores change; without that probe, fine-tuning at the encoder's rate leaves the
loss at ln 2 and the scores where they were (the defect the probe fixes)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from distill_helpers import make_dataset
from reasonrank.testing.tiny_encoder import tiny_bi_encoder_dir, tiny_cross_encoder_dir
from reasonrank.training.distill.data import load_distill_data
from reasonrank.training.distill.head import fit_new_head
from reasonrank.training.distill.student import Student
from reasonrank.training.distill.teachers import qrels_teacher
from reasonrank.training.distill.trainer import TrainSettings, train

PAIRS = (["how long do fleas last"] * 3, ["fleas last about 1 years", "notes 2 on concrete", "notes 3 on concrete"])


def _scores(student: Student) -> object:
    student.train(False)
    with torch.no_grad():
        return student.cross_scores(*PAIRS).clone()


@pytest.fixture()
def items(tmp_path: Path) -> list:
    return load_distill_data(make_dataset(tmp_path / "data"), depth=8).items


def test_the_probe_takes_a_new_heads_loss_clearly_below_ln2_and_moves_its_scores(items) -> None:
    student = Student(str(tiny_bi_encoder_dir()), "cross", seed=0)
    before = _scores(student)
    # The tiny random encoder's pooled features barely differ between passages: a large rate.
    fit = fit_new_head(student, items, qrels_teacher(items), "ranknet", group_size=8, head=3, seed=0, steps=200, lr=1.0)
    after = _scores(student)
    assert abs(fit["loss_before"] - math.log(2)) < 0.02  # a new head: flat logits
    assert fit["loss_after"] < 0.45
    assert (after - before).abs().max().item() > 0.5
    assert after[0] > after[1] and after[0] > after[2]  # the relevant passage first


def test_without_the_probe_fine_tuning_leaves_the_new_head_at_ln2(items, tmp_path) -> None:
    student = Student(str(tiny_bi_encoder_dir()), "cross", seed=0)
    before = _scores(student)
    settings = TrainSettings(epochs=3, group_size=8, head=3, queries_per_step=2, head_probe_steps=0, checkpoint_every=100)
    report = train(student, items, qrels_teacher(items), "ranknet", settings, 0, tmp_path / "out")
    assert report.head_probe is None and min(report.losses) > 0.65
    assert (_scores(student) - before).abs().max().item() < 0.2


def test_training_probes_a_new_head_once_and_never_on_resume(items, tmp_path) -> None:
    settings = TrainSettings(epochs=1, group_size=4, head=3, queries_per_step=2, head_probe_steps=5, checkpoint_every=1,
                             max_steps=1)
    student = Student(str(tiny_bi_encoder_dir()), "cross", seed=0)
    first = train(student, items, qrels_teacher(items), "ranknet", settings, 0, tmp_path / "out")
    assert first.head_probe is not None and first.head_probe["steps"] == 5
    resumed = train(Student(str(tiny_bi_encoder_dir()), "cross", seed=0), items, qrels_teacher(items), "ranknet",
                    TrainSettings(**{**settings.__dict__, "max_steps": None}), 0, tmp_path / "out", resume=True)
    assert resumed.resumed_from == 1 and resumed.head_probe is None  # the checkpoint holds the fitted head
    dense = train(Student(str(tiny_bi_encoder_dir()), "dense", seed=0), items, qrels_teacher(items), "ranknet",
                  settings, 0, tmp_path / "dense")
    assert dense.head_probe is None


def test_only_a_cross_student_from_an_encoder_has_a_new_head() -> None:
    assert not Student(str(tiny_cross_encoder_dir()), "cross", seed=0).new_head
    assert Student(str(tiny_bi_encoder_dir()), "cross", seed=0).new_head
    dense = Student(str(tiny_bi_encoder_dir()), "dense", seed=0)
    assert not dense.new_head and dense.head_module() is None
