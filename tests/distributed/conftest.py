"""One real local Ray cluster for the whole test session (Ray's start takes seconds on 2 cores).

Ray workers import the picklable test factories from ``ray_helpers`` (this folder): the fixture
puts the folder on the workers' PYTHONPATH.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def ray_cluster():
    try:
        import ray
    except ModuleNotFoundError:
        pytest.fail("ray is not installed: install reasonrank[ray]")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Workers inherit the environment of the cluster started here (a runtime_env would cost a
    # setup process per worker).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING",
             log_to_driver=False)  # as reasonrank.distributed.connect: stdout stays ours
    yield ray
    ray.shutdown()
