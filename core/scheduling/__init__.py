"""The one scheduler every reranking method runs on.

A method describes one query's work as a *job* (a generator of engine steps:
:class:`Generate`, :class:`ScoreChoices`, :class:`Attend`, :class:`Encode`, or a :class:`Fork` of sub-jobs) and
the base :class:`~reasonrank.methods.base.Reranker` drives the jobs of a batch with
:func:`run_batched` (sync batch engines) or :func:`run_async` (concurrent engines), chosen once.
Engine layers (:class:`SharedEngine` for concurrent callers, metering) wrap the engine when a
reranker is built (:func:`compose`).
"""
from __future__ import annotations

from reasonrank._async import run_coroutine
from reasonrank.errors import as_engine_error
from reasonrank.scheduling.batched import run_batched
from reasonrank.scheduling.concurrent import run_async
from reasonrank.scheduling.layers import EngineLayer, compose
from reasonrank.scheduling.shared import (
    RequestCancelled,
    SharedEngine,
    SharedStats,
    Ticket,
    current_ticket,
)
from reasonrank.scheduling.stats import SchedulerStats
from reasonrank.scheduling.steps import (
    Attend,
    Encode,
    Fork,
    Generate,
    Job,
    ScoreChoices,
    Step,
    StepCallback,
    gather,
)

__all__ = [
    "Attend", "Encode", "EngineLayer", "Fork", "Generate", "Job", "RequestCancelled", "SchedulerStats", "ScoreChoices",
    "SharedEngine", "SharedStats", "Step", "StepCallback", "Ticket", "as_engine_error", "compose",
    "current_ticket", "gather", "run_async", "run_batched", "run_coroutine",
]
