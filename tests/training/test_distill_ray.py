"""The teacher runs on a real local Ray cluster (``reasonrank rerank-dataset``'s runner): a tiny
scripted listwise teacher's rankings are written as shards under ``OUTPUT/teacher`` and the
student learns its order."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("sentence_transformers")
ray = pytest.importorskip("ray")

from distill_helpers import make_dataset, settings
from reasonrank.distributed import RayOptions
from reasonrank.distributed.output import shard_paths
from reasonrank.testing.ray_factories import ScriptedFactory
from reasonrank.testing.tiny_encoder import tiny_bi_encoder_dir
from reasonrank.training.distill import distill


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING",
             log_to_driver=False)
    yield
    ray.shutdown()


def test_a_scripted_teacher_runs_on_ray_and_teaches_the_student(local_ray, tmp_path) -> None:
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "student"
    options = RayOptions(replicas=1, cpus_per_replica=0.5, batch_size=2)
    record = distill(data, ScriptedFactory(), out, settings(tiny_bi_encoder_dir(), epochs=1), ray_options=options,
                     show_progress=False)
    shards = shard_paths(out / "teacher")
    assert shards and sum(len(p.read_text().splitlines()) for p in shards) == 6  # each query once
    assert record["teacher"]["gives"] == "order" and record["teacher"]["queries"] == 6
    assert record["loss"] == "ranknet" and record["training"]["finished"]
    assert (out / "model.safetensors").is_file()
