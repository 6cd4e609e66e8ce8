"""Prometheus metrics of the service (one registry per app, so tests can build many apps)."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class _CacheCounters:
    """The reply cache's own counters (:class:`~reasonrank.cache.replies.CacheStats`), read
    at each scrape: ``coalesced``, requests answered by an identical one still in flight."""

    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        yield CounterMetricFamily("reasonrank_cache_coalesced",
                                  "Engine requests and whole queries answered by an identical one in flight "
                                  "(also counted as cache hits)",
                                  value=stats.get("coalesced", 0) + stats.get("result_coalesced", 0))


class ServiceMetrics:
    """requests by status, latency, engine calls/windows (and mixed ones), tokens, fallbacks,
    in-flight and queued requests."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("reasonrank_requests", "Rerank requests by HTTP status", ["status"], registry=r)
        self.latency = Histogram("reasonrank_request_seconds", "Rerank request latency (s)",
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.documents = Counter("reasonrank_documents", "Documents received in rerank requests", registry=r)
        self.engine_calls = Counter("reasonrank_engine_calls", "Calls to the engine", registry=r)
        self.windows = Counter("reasonrank_engine_requests",
                               "Prompts sent to the engine (listwise windows, pointwise pairs, ...)", registry=r)
        self.mixed_calls = Counter("reasonrank_engine_mixed_calls",
                                   "Engine calls carrying prompts of two or more HTTP requests", registry=r)
        self.engine_seconds = Histogram("reasonrank_engine_call_seconds", "Engine call duration (s)",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.cache = Counter("reasonrank_cache_requests", "Engine requests by result-cache outcome", ["result"],
                             registry=r)
        self.tokens = Counter("reasonrank_tokens", "Tokens used", ["kind"], registry=r)
        self.fallbacks = Counter("reasonrank_fallbacks",
                                 "Windows/pairs kept in input order (unusable output or engine failure)",
                                 registry=r)
        self.in_flight = Gauge("reasonrank_in_flight", "Rerank requests running", registry=r)
        self.queued = Gauge("reasonrank_queued", "Rerank requests waiting for a slot", registry=r)
        self.engine_queued = Gauge("reasonrank_engine_queued", "Prompts waiting for an engine call", registry=r)

    def watch_cache(self, stats: Callable[[], dict[str, int]]) -> None:
        """Report the reply cache's counters (``stats()``: its ``CacheStats.to_dict()``)."""
        self.registry.register(_CacheCounters(stats))

    def on_engine_call(self, n_requests: int, n_tickets: int, seconds: float) -> None:
        self.engine_calls.inc()
        self.windows.inc(n_requests)
        if n_tickets > 1:
            self.mixed_calls.inc()
        self.engine_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
