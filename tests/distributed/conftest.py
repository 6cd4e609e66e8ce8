"""One real local Ray cluster for the whole test session (Ray's start takes seconds on 2 cores).

Ray workers import the picklable test factories from :mod:`reasonrank.testing.ray_factories`
(the installed package: nothing to add to their path).
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    try:
        import ray
    except ModuleNotFoundError:
        pytest.fail("ray is not installed: install reasonrank[ray]")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING",
             log_to_driver=False)  # as reasonrank.distributed.connect: stdout stays ours
    yield ray
    ray.shutdown()
