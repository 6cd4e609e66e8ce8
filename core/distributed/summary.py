"""What a distributed run reports: sums over result records (queries, windows, tokens,
fallbacks) and where the replicas' time went."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


def fallbacks(record: dict[str, Any]) -> int:
    """Windows/queries that kept their input order: the usage counter where the record has
    one, else the "kept input order" warnings."""
    counted = record.get("usage", {}).get("fallbacks")
    if isinstance(counted, int):
        return counted
    return sum(1 for w in record.get("warnings", []) if str(w).startswith("kept input order"))


@dataclass
class Totals:
    """Running sums over result records: queries, windows (engine calls), tokens, fallbacks."""

    queries: int = 0
    windows: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallbacks: int = 0
    queries_with_warnings: int = 0
    engine_seconds: float = 0.0

    def add(self, record: dict[str, Any]) -> None:
        usage = record.get("usage", {})
        self.queries += 1
        self.windows += int(usage.get("engine_calls", 0))
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))
        self.engine_seconds += float(usage.get("engine_seconds", 0.0))
        self.fallbacks += fallbacks(record)
        self.queries_with_warnings += bool(record.get("warnings"))


@dataclass
class ReplicaLoad:
    """Where the replicas' time went: building engines, and reranking batches."""

    replicas_seen: int = 0
    start_seconds_max: float = 0.0
    busy_seconds: float = 0.0
    first_result_seconds: float | None = None  # from submitting the job to the first result
    _seen: set[str] = field(default_factory=set, repr=False)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def add(self, busy: float, init: float, replica: str) -> None:
        if self.first_result_seconds is None:
            self.first_result_seconds = time.perf_counter() - self._t0
        self.busy_seconds += busy
        self.start_seconds_max = max(self.start_seconds_max, init)
        if replica not in self._seen:
            self._seen.add(replica)
            self.replicas_seen += 1

    def as_dict(self) -> dict[str, Any]:
        return {"replicas_seen": self.replicas_seen, "start_seconds_max": self.start_seconds_max,
                "busy_seconds": self.busy_seconds, "first_result_seconds": self.first_result_seconds}


__all__ = ["ReplicaLoad", "Totals", "fallbacks"]
