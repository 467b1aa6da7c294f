"""The Grafana dashboard: valid JSON shipped as a labelled ConfigMap, one panel per topic the
issue asks for, and no series the gateway does not export (names checked against the running
gateway in test_gateway_metrics.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy.helpers import DASHBOARD, GATEWAY_SERIES, dashboard_expressions, used_metric_names

Render = Callable[[str], list[dict[str, Any]]]


def test_every_panel_queries_prometheus_and_has_a_place() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["type"] == "prometheus"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert all(target["expr"].strip() for target in panel["targets"])


def test_the_dashboard_shows_every_topic_of_the_issue() -> None:
    exprs = dashboard_expressions()

    def shown(series: str) -> bool:
        return any(series in expr for expr in exprs)

    assert shown("settle_jobs_total")  # job throughput
    assert shown("settle_job_duration_seconds_bucket")  # durations
    assert shown("settle_rejected_rows_total")  # rejects
    assert shown("settle_shard_retries_total")  # retries
    assert shown("settle_runner_lease_losses_total")  # lease losses
    assert shown("settle_http_request_duration_seconds_bucket")  # HTTP latency


def test_the_dashboard_uses_only_series_the_gateway_exports() -> None:
    assert used_metric_names() - GATEWAY_SERIES == set()


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_dashboard_ships_as_a_configmap_for_grafanas_sidecar(render: Render, overlay: str) -> None:
    (config,) = [o for o in render(overlay) if o["metadata"]["name"] == "settle-grafana-dashboard"]
    assert config["kind"] == "ConfigMap"
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["settle.json"]) == json.loads(DASHBOARD.read_text())
