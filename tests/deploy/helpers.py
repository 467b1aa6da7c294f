"""Helpers of the deployment tests: the repository's paths, pinned versions, rendering a
kustomize overlay and the metric names the Grafana dashboard and the ServiceMonitor use.

Everything here works offline: ``kubectl kustomize`` renders an overlay without a cluster.
``CI=true`` turns a missing tool or a missing ``../shared`` folder from a skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
DASHBOARD = K8S / "base" / "dashboards" / "settle.json"
# The CRD is read where the lead keeps it, next to the repository, never copied into it.
RAYCLUSTER_CRD = REPO.parent / "shared" / "schemas" / "kuberay" / "ray.io_rayclusters.yaml"

# The series the gateway exports (the API issue's names, as Prometheus sees them: counters end in
# _total, histograms are _bucket/_sum/_count), plus the store's gauge of jobs by state.
GATEWAY_SERIES = frozenset(
    {
        "settle_jobs_total",
        "settle_jobs_by_state",
        "settle_job_duration_seconds_bucket",
        "settle_job_duration_seconds_sum",
        "settle_job_duration_seconds_count",
        "settle_claim_lines_processed_total",
        "settle_rejected_rows_total",
        "settle_shard_retries_total",
        "settle_runner_lease_losses_total",
        "settle_http_requests_total",
        "settle_http_request_duration_seconds_bucket",
        "settle_http_request_duration_seconds_sum",
        "settle_http_request_duration_seconds_count",
    }
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(message: str) -> None:
    """Skip on a developer's machine; fail under ``CI=true``, where the prerequisite must exist."""
    if in_ci():
        pytest.fail(message + " (CI=true: this is required in CI)")
    pytest.skip(message)


def pinned_version(package: str) -> str:
    """The version of ``package`` pinned in deploy/constraints.txt."""
    wanted = package.lower().replace("_", "-")
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name.lower().replace("_", "-").split("[")[0] == wanted:
            return version
    raise AssertionError(f"{package} is not pinned in deploy/constraints.txt")


@cache
def render_overlay(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def metric_names_in(text: str) -> set[str]:
    """The settle_* series a PromQL expression (or any text) names, as written."""
    return set(re.findall(r"\b(settle_[a-z0-9_]+)", text))


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def used_metric_names() -> set[str]:
    """Every settle_* series the dashboard's queries and the ServiceMonitors (relabelings) name."""
    monitors = yaml.safe_load_all((K8S / "base" / "servicemonitor.yaml").read_text())
    names = metric_names_in(json.dumps([m["spec"] for m in monitors]))  # comments left out
    for expr in dashboard_expressions():
        names |= metric_names_in(expr)
    return names
