"""The gateway end to end: a real uvicorn server on loopback with an embedded runner, a real
database (SQLite and PostgreSQL), a real synthetic book; nothing mocked."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.api.gateway import EMPLOYER_GROUP, Server, wait_for


@pytest.fixture(scope="session")
def settled(server: Server, job_body: dict[str, Any]) -> dict[str, Any]:
    """One job submitted by tenant acme and settled by the embedded runner."""
    with server.client("acme") as client:
        answer = client.post("/v1/jobs", json=job_body)
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert answer.headers["Location"] == f"/v1/jobs/{job['id']}"
        assert job["state"] in ("queued", "running")
        return wait_for(client, job["id"], ("succeeded", "failed", "cancelled"))


def _output(server: Server, job: dict[str, Any]) -> Path:
    return Path(server.settings.job_output(job["id"]))


def test_submitted_job_succeeds_with_counts_and_transitions(server: Server, settled: dict[str, Any]) -> None:
    assert settled["state"] == "succeeded", settled["error"]
    assert settled["error"] is None
    assert settled["attempts"] == 1
    assert [e["state"] for e in settled["events"]] == ["queued", "running", "succeeded"]
    # Every input row is accepted or rejected.
    for table, counts in settled["counts"]["tables"].items():
        assert counts["accepted"] + counts["rejected"] == counts["read"], table
    assert settled["progress"]["stage"] == "done"
    assert settled["progress"]["rows_processed"] == settled["counts"]["claim_lines"]
    manifest = json.loads((_output(server, settled) / "manifest.json").read_text())
    assert manifest["counts"] == settled["counts"]


def test_statements_pages_cover_the_output_exactly(server: Server, settled: dict[str, Any]) -> None:
    expected = json.loads((_output(server, settled) / "statements.json").read_text())
    got: list[dict[str, Any]] = []
    cursor: str | None = None
    with server.client("acme") as client:
        while True:
            params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
            page = client.get(f"/v1/jobs/{settled['id']}/statements", params=params).raise_for_status().json()
            assert len(page["items"]) <= 7
            got.extend(page["items"])
            cursor = page["next"]
            if cursor is None:
                break
        assert got == expected
        contract = expected[0]["contract_id"]
        entity = expected[0]["entity_id"]
        one = client.get(
            f"/v1/jobs/{settled['id']}/statements",
            params={"contract": contract, "entity": entity, "limit": 1000},
        ).json()
        assert one["items"] == [
            s for s in expected if s["contract_id"] == contract and s["entity_id"] == entity
        ]


def test_outputs_stream_as_written_and_as_csv(server: Server, settled: dict[str, Any]) -> None:
    out = _output(server, settled)
    with server.client("acme") as client:
        for name in ("statements.parquet", "ledger.parquet", "statements.json", "manifest.json"):
            answer = client.get(f"/v1/jobs/{settled['id']}/outputs/{name}")
            assert answer.status_code == 200, name
            assert answer.content == (out / name).read_bytes(), name
        answer = client.get(f"/v1/jobs/{settled['id']}/outputs/ledger.csv")
        assert answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        ledger = pq.read_table(out / "ledger.parquet")
        assert len(rows) == ledger.num_rows
        assert sum(int(r["amount_cents"]) for r in rows) == pc.sum(ledger["amount_cents"]).as_py()
        missing = client.get(f"/v1/jobs/{settled['id']}/outputs/secrets.txt")
        assert missing.status_code == 404
        assert missing.json()["error"]["field"] == "name"


def test_requests_without_a_valid_key_are_401(server: Server, settled: dict[str, Any]) -> None:
    with server.client() as anonymous:
        for path in ("/v1/jobs", f"/v1/jobs/{settled['id']}", f"/v1/jobs/{settled['id']}/statements"):
            answer = anonymous.get(path)
            assert answer.status_code == 401, path
            assert answer.json()["error"]["code"] == "unauthorized"
            assert answer.headers["www-authenticate"] == "Bearer"
        wrong = anonymous.get("/v1/jobs", headers={"Authorization": "Bearer settle_kdeadbeef_nope"})
        assert wrong.status_code == 401
    with server.client("revoked") as revoked:
        assert revoked.get("/v1/jobs").status_code == 401


def test_a_key_without_the_scope_is_403(server: Server, job_body: dict[str, Any]) -> None:
    with server.client("acme-reader") as reader:
        answer = reader.post("/v1/jobs", json=job_body)
        assert answer.status_code == 403
        assert "jobs:submit" in answer.json()["error"]["message"]


def test_another_tenants_job_is_404(server: Server, settled: dict[str, Any]) -> None:
    job_id = settled["id"]
    with server.client("globex") as other:
        for path in (
            f"/v1/jobs/{job_id}",
            f"/v1/jobs/{job_id}/statements",
            f"/v1/jobs/{job_id}/outputs/ledger.csv",
        ):
            answer = other.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["error"]["code"] == "not_found"
        assert other.delete(f"/v1/jobs/{job_id}").status_code == 404
        assert job_id not in {j["id"] for j in other.get("/v1/jobs").json()["items"]}


def test_an_employer_scoped_key_sees_only_its_groups(server: Server, settled: dict[str, Any]) -> None:
    out = _output(server, settled)
    expected = [
        s for s in json.loads((out / "statements.json").read_text()) if s["group_id"] == EMPLOYER_GROUP
    ]
    assert expected, "the synthetic book settles some statements per employer group"
    with server.client("acme-employer") as client:
        page = client.get(f"/v1/jobs/{settled['id']}/statements", params={"limit": 1000}).json()
        assert page["items"] == expected
        # Asking for another group gives nothing rather than that group's rows.
        other = client.get(f"/v1/jobs/{settled['id']}/statements", params={"employer": "G0002"}).json()
        assert other["items"] == []
        ledger = pq.read_table(
            io.BytesIO(client.get(f"/v1/jobs/{settled['id']}/outputs/ledger.parquet").content)
        )
        assert set(ledger["group_id"].to_pylist()) == {EMPLOYER_GROUP}
        full = pq.read_table(out / "ledger.parquet")
        assert ledger.num_rows == sum(1 for g in full["group_id"].to_pylist() if g == EMPLOYER_GROUP)
        as_json = client.get(f"/v1/jobs/{settled['id']}/outputs/statements.json").json()
        assert as_json == expected
        refused = client.get(f"/v1/jobs/{settled['id']}/outputs/attribution.parquet")
        assert refused.status_code == 403


def test_idempotent_resubmission(server: Server, job_body: dict[str, Any]) -> None:
    body = job_body | {"name": "idempotent"}
    headers = {"Idempotency-Key": f"retry-{server.settings.database_url}"}
    with server.client("acme") as client:
        first = client.post("/v1/jobs", json=body, headers=headers)
        assert first.status_code == 202
        # Same key, same body (keys in another order): the same job, answered 200.
        again = client.post("/v1/jobs", content=json.dumps(dict(reversed(body.items()))), headers=headers)
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        conflict = client.post("/v1/jobs", json=body | {"name": "changed"}, headers=headers)
        assert conflict.status_code == 409
        assert conflict.json()["error"]["field"] == "Idempotency-Key"
        wait_for(client, first.json()["id"], ("succeeded",))
    # Another tenant may use the same key for its own job.
    with server.client("globex") as other:
        theirs = other.post("/v1/jobs", json=body, headers=headers)
        assert theirs.status_code == 202
        assert theirs.json()["id"] != first.json()["id"]
        wait_for(other, theirs.json()["id"], ("succeeded",))


def test_cancel(server: Server, job_body: dict[str, Any], settled: dict[str, Any]) -> None:
    with server.client("acme") as client:
        job = client.post("/v1/jobs", json=job_body | {"name": "to-cancel"}).json()
        answer = client.delete(f"/v1/jobs/{job['id']}")
        assert answer.status_code == 200
        assert answer.json()["state"] == "cancelled"
        # Cancelled whether it was still queued or already running: a runner that finishes it
        # later must not overwrite the cancellation.
        wait_for(client, settled["id"], ("succeeded",))
        others = [
            j
            for j in client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
            if j["state"] == "running"
        ]
        for running in others:
            wait_for(client, running["id"], ("succeeded", "failed", "cancelled"))
        assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "cancelled"
        assert client.delete(f"/v1/jobs/{job['id']}").json()["state"] == "cancelled"
        finished = client.delete(f"/v1/jobs/{settled['id']}")
        assert finished.status_code == 409
        not_ready = client.get(f"/v1/jobs/{job['id']}/statements")
        assert not_ready.status_code == 409


@pytest.mark.parametrize(
    "location",
    ["/etc/passwd", "book/../../outside", "../book/roster.parquet", "s3://bucket/roster.parquet"],
)
def test_a_path_outside_the_data_roots_is_refused(
    server: Server, job_body: dict[str, Any], location: str
) -> None:
    body = job_body | {"inputs": job_body["inputs"] | {"roster": location}}
    with server.client("acme") as client:
        answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "path_not_allowed"
    assert error["field"] == "inputs.roster"
    assert location in error["message"]


def test_a_symlink_out_of_the_data_root_is_refused(
    server: Server, job_body: dict[str, Any], data_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "roster.parquet").write_bytes((data_root / "book" / "roster.parquet").read_bytes())
    link = data_root / f"link-{os.getpid()}-{id(server)}"
    link.symlink_to(tmp_path, target_is_directory=True)
    try:
        body = job_body | {"inputs": job_body["inputs"] | {"roster": f"{link.name}/roster.parquet"}}
        with server.client("acme") as client:
            answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "inputs.roster"
    finally:
        link.unlink()


def test_an_invalid_document_names_the_field(server: Server, job_body: dict[str, Any]) -> None:
    body = {k: v for k, v in job_body.items() if k != "period"}
    with server.client("acme") as client:
        answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "period"
        bad_json = client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400
        huge = client.post("/v1/jobs", content=b" " * (server.settings.max_body_bytes + 1))
        assert huge.status_code == 413
        assert huge.json()["error"]["code"] == "too_large"


def test_jobs_are_listed_newest_first_in_pages(server: Server, settled: dict[str, Any]) -> None:
    with server.client("acme") as client:
        everything = client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
        paged: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = client.get("/v1/jobs", params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
            paged.extend(page["items"])
            cursor = page["next"]
            if cursor is None:
                break
    assert [j["id"] for j in paged] == [j["id"] for j in everything]
    created = [j["created_at"] for j in everything]
    assert created == sorted(created, reverse=True)
    assert settled["id"] in {j["id"] for j in everything}


def test_whatif_settles_hand_checked_figures(server: Server) -> None:
    contract = {
        "id": "acme-ssp",
        "kind": "shared_savings",
        "terms": {
            "benchmark": {"pmpm": 1000},
            "min_savings_rate": 0.02,
            "sharing_rate": 0.5,
            "savings_cap": 0.10,
            "sequestration": 0.02,
        },
    }
    row = {
        "entity_id": "A001",
        "attributed_members": 10000,
        "member_months": 120000,
        "benchmark_expenditure": "120000000",
        "actual_expenditure": 110000000,
        "quality_score": 0.9,
        "met_quality_standard": True,
    }
    with server.client("acme-reader") as client:
        answer = client.post("/v1/whatif", json={"contract": contract, "aggregates": [row]})
        assert answer.status_code == 200, answer.text
        # G = 120,000,000 - 110,000,000 = 10,000,000; rate 8.33% >= 2% MSR; final rate 50% x 0.9
        # = 45%; earned = 0.98 x 10,000,000 x 0.45 = 4,410,000 (below the cap 12,000,000).
        (result,) = answer.json()["items"]
        assert result["gross_savings"] == "10000000.00"
        assert result["settlement_amount"] == "4410000.00"
        assert result["settlement_cents"] == 441_000_000
        bad = client.post(
            "/v1/whatif", json={"contract": contract, "aggregates": [row | {"quality_score": 2}]}
        )
        assert bad.status_code == 422
        assert "quality_score" in bad.json()["error"]["message"]


def test_operations_endpoints(server: Server, settled: dict[str, Any]) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "runner": "ok"}
        text = client.get("/metrics").text
        for name in (
            'settle_jobs_total{state="succeeded"}',
            'settle_jobs_by_state{state="succeeded"}',
            "settle_job_duration_seconds_bucket",
            "settle_claim_lines_processed_total",
            "settle_rejected_rows_total",
            "settle_shard_retries_total",
            "settle_runner_lease_losses_total",
            'settle_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"}',
            "settle_http_request_duration_seconds_bucket",
        ):
            assert name in text, name
        schema = client.get("/openapi.json").json()
        assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/whatif", "/v1/jobs/{job_id}/outputs/{name}"} <= set(
            schema["paths"]
        )
        assert "JobDocument" in schema["components"]["schemas"]
