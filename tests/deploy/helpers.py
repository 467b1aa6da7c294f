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

# The gateway's metrics (the API issue's names); the dashboard may use no other settle_* series.
GATEWAY_METRICS = frozenset(
    {
        "settle_jobs_total",
        "settle_job_duration_seconds",
        "settle_claim_lines_processed_total",
        "settle_rejected_rows_total",
        "settle_shard_retries_total",
        "settle_runner_lease_losses_total",
        "settle_http_requests_total",
        "settle_http_request_duration_seconds",
    }
)

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


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


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression uses, histogram suffixes removed."""
    names = set()
    for name in re.findall(r"\b(settle_[a-z0-9_]+)", expr):
        for suffix in _HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in GATEWAY_METRICS:
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def used_metric_names() -> set[str]:
    """Every settle_* metric the dashboard's queries and the ServiceMonitor (relabelings) name."""
    names = metric_names_in((K8S / "base" / "servicemonitor.yaml").read_text())
    for expr in dashboard_expressions():
        names |= metric_names_in(expr)
    return names
