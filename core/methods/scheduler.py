"""Deprecated: the scheduler moved to :mod:`reasonrank.scheduling` (kept for old imports)."""
from __future__ import annotations

import warnings

from reasonrank._async import run_coroutine
from reasonrank.errors import as_engine_error
from reasonrank.scheduling.batched import run_batched
from reasonrank.scheduling.concurrent import run_async
from reasonrank.scheduling.stats import Busy as _Busy
from reasonrank.scheduling.stats import SchedulerStats
from reasonrank.scheduling.steps import Job, StepCallback

__all__ = ["Job", "SchedulerStats", "StepCallback", "_Busy", "as_engine_error", "run_async", "run_batched",
           "run_coroutine"]

warnings.warn(f"{__name__} is deprecated; import from reasonrank.scheduling", DeprecationWarning, stacklevel=2)
