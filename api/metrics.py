"""Prometheus metrics of the gateway and its runners (prometheus-client, default registry).

``settle_jobs_total{state}`` counts jobs entering each state in this process;
``settle_jobs_by_state{state}`` is the store's current count per state, read at scrape time.  Job
duration is from claim to finish of the attempt that finished.  Claim lines and rejected rows
are added when a job succeeds; shard retries come from the job's last progress snapshot; a
lease loss is counted by the runner that re-claims a job whose lease expired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "CLAIM_LINES",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "JOBS",
    "JOB_DURATION",
    "LEASE_LOSSES",
    "REJECTED_ROWS",
    "SHARD_RETRIES",
    "register_state_gauge",
]

JOBS = Counter("settle_jobs", "Jobs entering each state (in this process).", ["state"])
JOB_DURATION = Histogram(
    "settle_job_duration_seconds",
    "Seconds from claim to finish of a job's finishing attempt.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf")),
)
CLAIM_LINES = Counter("settle_claim_lines_processed", "Claim lines settled by succeeded jobs.")
REJECTED_ROWS = Counter("settle_rejected_rows", "Input rows rejected by succeeded jobs.")
SHARD_RETRIES = Counter("settle_shard_retries", "Shard retries reported by finished jobs.")
LEASE_LOSSES = Counter("settle_runner_lease_losses", "Running jobs re-claimed after their lease expired.")
HTTP_REQUESTS = Counter("settle_http_requests", "HTTP requests answered.", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "settle_http_request_duration_seconds",
    "Seconds to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
)


class _StateGauge(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "settle_jobs_by_state", "Jobs in the store by current state.", labels=["state"]
        )
        try:
            counts = self.counts()
        except Exception:  # the database is down: /metrics still answers, without this gauge
            return
        for state in ("queued", "running", "succeeded", "failed", "cancelled"):
            family.add_metric([state], counts.get(state, 0))
        yield family


_gauge: _StateGauge | None = None


def register_state_gauge(counts: Callable[[], dict[str, int]]) -> None:
    """Expose the store's jobs per state (the latest app's store wins)."""
    global _gauge
    if _gauge is None:
        _gauge = _StateGauge(counts)
        REGISTRY.register(_gauge)
    else:
        _gauge.counts = counts
