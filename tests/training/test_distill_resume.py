"""A seed gives the same student twice; an interrupted run resumes from its checkpoint to the
same student an uninterrupted run gives; the output folder is refused when it holds another run."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sentence_transformers")

from distill_helpers import make_dataset, settings, weights
from reasonrank.errors import InvalidInputError
from reasonrank.testing.tiny_encoder import tiny_bi_encoder_dir
from reasonrank.training.distill import distill


def same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data") / "dl")


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    distill(data, "qrels", out, settings(tiny_bi_encoder_dir(), seed=7))
    return out


def test_a_seed_gives_the_same_student_twice(data, uninterrupted, tmp_path) -> None:
    distill(data, "qrels", tmp_path / "again", settings(tiny_bi_encoder_dir(), seed=7))
    assert same(weights(uninterrupted), weights(tmp_path / "again"))
    distill(data, "qrels", tmp_path / "other", settings(tiny_bi_encoder_dir(), seed=8))
    assert not same(weights(uninterrupted), weights(tmp_path / "other"))
    before = weights(tiny_bi_encoder_dir())  # and training changed the weights
    assert not same({k: v for k, v in before.items() if k in weights(uninterrupted)}, weights(uninterrupted))


def test_an_interrupted_run_resumes_to_the_same_student(data, uninterrupted, tmp_path) -> None:
    out = tmp_path / "cut"
    first = distill(data, "qrels", out, settings(tiny_bi_encoder_dir(), seed=7, max_steps=3))
    assert not first["training"]["finished"] and first["training"]["steps"] == 3
    assert (out / "checkpoint" / "state.pt").is_file() and (out / "modules.json").is_file()
    assert "False" in (out / "README.md").read_text()  # the card says it is unfinished
    done = distill(data, "qrels", out, settings(tiny_bi_encoder_dir(), seed=7), resume=True)
    assert done["training"]["finished"] and done["training"]["resumed_from"] == 3
    assert done["training"]["steps"] == done["training"]["total_steps"] == 6
    assert same(weights(uninterrupted), weights(out))
    # resuming a finished run trains nothing more
    assert distill(data, "qrels", out, settings(tiny_bi_encoder_dir(), seed=7), resume=True) == done


def test_a_crash_mid_run_resumes_from_the_last_checkpoint(data, uninterrupted, tmp_path, monkeypatch) -> None:
    from reasonrank.training.distill import trainer

    real = trainer.batch_loss
    calls = {"n": 0}

    def crash_on_fifth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "batch_loss", crash_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        distill(data, "qrels", tmp_path / "crash", settings(tiny_bi_encoder_dir(), seed=7))
    monkeypatch.setattr(trainer, "batch_loss", real)
    done = distill(data, "qrels", tmp_path / "crash", settings(tiny_bi_encoder_dir(), seed=7), resume=True)
    assert done["training"]["resumed_from"] == 4 and done["training"]["finished"]
    assert same(weights(uninterrupted), weights(tmp_path / "crash"))


def test_an_output_folder_holding_another_run_is_refused_unless_resume(data, uninterrupted, tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="holds another distillation run.*--resume"):
        distill(data, "qrels", uninterrupted, settings(tiny_bi_encoder_dir(), seed=7))
    with pytest.raises(InvalidInputError, match="other settings.*seed"):
        distill(data, "qrels", uninterrupted, settings(tiny_bi_encoder_dir(), seed=9), resume=True)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("not a run")
    for resume in (False, True):
        with pytest.raises(InvalidInputError, match="holds no distillation run.*notes.txt"):
            distill(data, "qrels", other, settings(tiny_bi_encoder_dir()), resume=resume)
    assert json.loads((uninterrupted / "distill_config.json").read_text())["seed"] == 7  # untouched
