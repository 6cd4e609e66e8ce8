"""Deprecated: moved to :mod:`reasonrank.scheduling` (kept for old imports)."""
from __future__ import annotations

import warnings

from reasonrank.scheduling.shared import (
    RequestCancelled,
    SharedEngine,
    SharedStats,
    Ticket,
    current_ticket,
)

__all__ = ["RequestCancelled", "SharedEngine", "SharedStats", "Ticket", "current_ticket"]

warnings.warn(f"{__name__} is deprecated; import from reasonrank.scheduling", DeprecationWarning, stacklevel=2)
