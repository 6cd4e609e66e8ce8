"""Evaluation and benchmarking of a reranker on a dataset (see :mod:`reasonrank.data`).

:func:`evaluate` reranks each query's first-stage top-k, appending one JSON line per finished
query to ``results.jsonl`` (so a crashed or interrupted run resumes where it stopped), then
writes the reranked TREC run and the metrics of the first stage and the reranker side by side.
:func:`benchmark` measures throughput, latency and the engine's share of the time.

One job per module:

- :mod:`~reasonrank.evaluate.meter` — :class:`EngineMeter`, the engine wrapper that records
  engine time and tokens, and :func:`meter`, which puts one under a built reranker;
- :mod:`~reasonrank.evaluate.results_file` — the folder's file names, the resumable
  ``results.jsonl`` and the ``eval_config.json`` resume check;
- :mod:`~reasonrank.evaluate.run` — :func:`evaluate`, the batched, resumable run loop;
- :mod:`~reasonrank.evaluate.report` — the reranked run, ``metrics.json`` and its text table;
- :mod:`~reasonrank.evaluate.bench` — :func:`benchmark`;
- :mod:`~reasonrank.evaluate.plot` — :func:`plot_benchmark`;
- :mod:`~reasonrank.evaluate.batching` — the batches and progress bar both loops share.
"""
from __future__ import annotations

from reasonrank.evaluate.bench import benchmark
from reasonrank.evaluate.meter import EngineMeter, meter
from reasonrank.evaluate.plot import plot_benchmark
from reasonrank.evaluate.report import finalize, format_metrics, reranked_ids
from reasonrank.evaluate.results_file import (
    CONFIG_FILE,
    METRICS_FILE,
    RESULTS_FILE,
    RESUME_KEYS,
    RUN_FILE,
    append_result,
    check_config,
    load_results,
)
from reasonrank.evaluate.run import as_dataset, evaluate

# Deprecated private spelling, still imported by reasonrank.distributed.runner: use check_config.

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "RESULTS_FILE",
    "RESUME_KEYS",
    "RUN_FILE",
    "EngineMeter",
    "append_result",
    "as_dataset",
    "benchmark",
    "check_config",
    "evaluate",
    "finalize",
    "format_metrics",
    "load_results",
    "meter",
    "plot_benchmark",
    "reranked_ids",
]
