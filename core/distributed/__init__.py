"""Distributed batch reranking on Ray (Ray Data): from one machine to a cluster, nothing lost.

Each Ray actor owns one reranker, built once from a :class:`RerankerSpec` (the CLI's
method/preset/engine options); Ray Data streams query rows through the actor pool; results are
written in shards as they stream (the ``results.jsonl`` schema of ``reasonrank eval``) plus a
TREC run. Needs the ``ray`` extra: ``pip install "reasonrank[ray]"``.

>>> from reasonrank.distributed import RayOptions, RerankerSpec, rerank_dataset
>>> summary = rerank_dataset("queries.jsonl", "out/", RerankerSpec(preset="reasonrank-7b",
...     engine="vllm"), ray_options=RayOptions(replicas=4, gpus_per_replica=1))  # doctest: +SKIP
"""
from __future__ import annotations

from reasonrank.distributed.actor import RerankActor, result_record
from reasonrank.distributed.output import iter_records
from reasonrank.distributed.rows import parse_row, scan_input
from reasonrank.distributed.runner import RayOptions, rerank_dataset
from reasonrank.distributed.summary import Totals
from reasonrank.spec import RerankerSpec  # defined in reasonrank.spec, re-exported for Ray users

__all__ = [
    "RayOptions",
    "RerankActor",
    "RerankerSpec",
    "Totals",
    "iter_records",
    "parse_row",
    "rerank_dataset",
    "result_record",
    "scan_input",
]
