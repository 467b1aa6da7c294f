"""Fuzzing the gateway's OpenAPI schema with schemathesis: no operation answers a 5xx.

A real uvicorn server on loopback with a real SQLite job store under a temporary folder; the
key used has every scope (``jobs:submit``, ``jobs:read``, ``admin``).  Before fuzzing, one job
is submitted over HTTP and settled by a runner in this process (a 400-member book is small
enough to settle without Ray), one is left queued and one is cancelled, so that the generated
``job_id`` is often one of these and the result routes are reached with a job of each state;
``name`` is often a real output name.  The server embeds no runner, so fuzzed jobs that happen
to be valid stay queued (their paths must lie under the data root anyway: the gateway refuses
anything else).  Each operation gets a bounded number of examples.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from settle.api.app import create_app
from settle.api.routes.results import OUTPUT_NAMES
from settle.api.runner import Runner
from settle.api.settings import Settings
from settle.api.store import JobStore, KeyStore, make_engine, migrate
from settle.api.submission import MAX_DEPTH


@dataclass(frozen=True)
class Gateway:
    """The fuzzed server: its URL, its key (every scope) and the seeded job ids by state."""

    url: str
    key: str
    jobs: dict[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)


def _seed(url: str, key: str, database_url: str, job_body: dict[str, Any]) -> dict[str, str]:
    """A succeeded, a queued and a cancelled job of the key's tenant (ids by state)."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        ids = [client.post("/v1/jobs", json=job_body).raise_for_status().json()["id"] for _ in range(3)]
        engine = make_engine(database_url)
        try:
            # The oldest queued job is claimed first: the first one submitted.
            assert Runner(JobStore(engine), lease_seconds=60).run_once()
        finally:
            engine.dispose()
        client.delete(f"/v1/jobs/{ids[2]}").raise_for_status()
        states = {i: client.get(f"/v1/jobs/{i}").raise_for_status().json()["state"] for i in ids}
    assert list(states.values()) == ["succeeded", "queued", "cancelled"], states
    return {state: job_id for job_id, state in states.items()}


@pytest.fixture(scope="module")
def gateway(
    data_root: Path, job_body: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("fuzz-home")
    database_url = f"sqlite:///{home / 'settle.db'}"
    engine = make_engine(database_url)
    try:
        migrate(engine)
        key = KeyStore(engine).create(tenant="fuzz", scopes=["jobs:submit", "jobs:read", "admin"])[1]
    finally:
        engine.dispose()
    settings_ = Settings(
        home=home,
        database_url=database_url,
        data_roots=[str(data_root)],
        results=str(home / "results"),
        lease_seconds=60,
        poll_seconds=0.05,
    )
    app = create_app(settings_, runner=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fuzzed server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        seeded = _seed(url, key, database_url, job_body)
        SEEDED.update(seeded)
        yield Gateway(url, key, seeded)
    finally:
        SEEDED.clear()
        server.should_exit = True
        thread.join(30)
        sock.close()


# The schema as the app builds it (no lifespan, no database needed); requests go to the live
# server through ``base_url``.  (schemathesis' lazy ``from_fixture`` loader fails on pytest 9.)
schema = schemathesis.openapi.from_dict(create_app(Settings(home=Path("unused"))).openapi())

# The seeded job ids, filled by the ``gateway`` fixture before any case is generated.
SEEDED: dict[str, str] = {}


@schema.hook
def flatmap_path_parameters(_context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time a seeded job id and a real output name, else what was generated."""
    if not path_parameters:
        return st.just(path_parameters)
    known: dict[str, Any] = {}
    if "job_id" in path_parameters and SEEDED:
        known["job_id"] = st.sampled_from(sorted(SEEDED.values()))
    if "name" in path_parameters:
        known["name"] = st.sampled_from(OUTPUT_NAMES)
    if not known:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters), st.fixed_dictionaries(known).map(lambda k: {**path_parameters, **k})
    )


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case: Any, gateway: Gateway) -> None:
    case.call_and_validate(
        base_url=gateway.url,
        headers={"Authorization": f"Bearer {gateway.key}"},
        checks=[not_a_server_error],
        timeout=60,
    )


# -- what fuzzing (and reading the code it pointed at) found: each answered 500 before the fix --


@pytest.mark.parametrize("cursor", ["²", "٣", "1²", "9" * 19, "9" * 5000, "-1", " 1", ""])
def test_a_cursor_that_is_not_a_plain_decimal_is_a_422(gateway: Gateway, cursor: str) -> None:
    """``str.isdigit`` accepted ``²`` (and ``int`` refused it); 19 digits overflowed SQLite's
    INTEGER; 5000 digits exceeded ``int``'s digit limit."""
    with gateway.client() as client:
        for path in ("/v1/jobs", f"/v1/jobs/{gateway.jobs['succeeded']}/statements"):
            answer = client.get(path, params={"cursor": cursor})
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["error"]["field"] == "cursor"


def test_the_largest_cursor_is_answered(gateway: Gateway) -> None:
    """18 digits (below 2**63) is a cursor; the page past the end is empty."""
    with gateway.client() as client:
        jobs = client.get("/v1/jobs", params={"cursor": "9" * 18, "limit": 1000}).raise_for_status().json()
        assert set(gateway.jobs.values()) <= {job["id"] for job in jobs["items"]}
        path = f"/v1/jobs/{gateway.jobs['succeeded']}/statements"
        assert client.get(path, params={"cursor": "9" * 18}).raise_for_status().json() == {
            "items": [],
            "next": None,
        }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contracts": "book/contr\x00acts.yaml"}, "contracts"),
        ({"inputs": {"roster": "book/roster\x00.parquet"}}, "inputs.roster"),
        ({"inputs": {"medical_claim": ["book/medical_claim/", "\x00"]}}, "inputs.medical_claim.1"),
        ({"name": "synthetic\x00"}, "name"),
    ],
)
def test_a_nul_character_in_the_job_body_is_a_422_naming_the_field(
    gateway: Gateway, job_body: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    """A NUL in a path made ``os.path.realpath`` raise ValueError (500 on every database); any
    other text with a NUL was stored on SQLite and refused by PostgreSQL (500)."""
    body = {**job_body, **change}
    if "inputs" in change:
        body["inputs"] = {**job_body["inputs"], **change["inputs"]}
    with gateway.client() as client:
        answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_deeply_nested_body_is_a_4xx(gateway: Gateway) -> None:
    with gateway.client() as client:
        for path in ("/v1/jobs", "/v1/whatif"):
            answer = client.post(path, content=b"[" * 100_000 + b"]" * 100_000)
            assert 400 <= answer.status_code < 500, (path, answer.text)


def test_a_job_body_nested_past_the_limit_is_a_422_naming_the_field(
    gateway: Gateway, job_body: dict[str, Any]
) -> None:
    """Below the JSON parser's own limit, a deep body could exhaust the stack of the checks
    that walk it; a job document needs about five levels, 32 are accepted."""
    deep: Any = "x"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    with gateway.client() as client:
        answer = client.post("/v1/jobs", json={**job_body, "column_map": {"roster": deep}})
        assert answer.status_code == 422, answer.text
        # The body is level 0, column_map 1, roster 2 (the outer list); the list j levels inside
        # it is at 2 + j and named roster + ".0" * j; the first past 32 is j = 31.
        assert answer.json()["error"]["field"] == "column_map.roster" + ".0" * (MAX_DEPTH - 1)


@pytest.mark.parametrize("job_id", ["%00", "a%00b", "%C2%B2", "x" * 32, "ABCDEF0123456789ABCDEF0123456789"])
def test_a_job_id_of_another_form_is_a_404(gateway: Gateway, job_id: str) -> None:
    with gateway.client() as client:
        for method, path in [
            ("GET", f"/v1/jobs/{job_id}"),
            ("DELETE", f"/v1/jobs/{job_id}"),
            ("GET", f"/v1/jobs/{job_id}/statements"),
            ("GET", f"/v1/jobs/{job_id}/outputs/manifest.json"),
        ]:
            answer = client.request(method, path)
            assert answer.status_code == 404, (method, path, answer.text)


def test_the_store_answers_an_id_holding_a_nul_as_absent(fresh_database_url: str) -> None:
    """PostgreSQL refused the query (DataError, a 500) for an id holding a NUL character."""
    engine = make_engine(fresh_database_url)
    try:
        store = JobStore(engine)
        job, _ = store.submit(
            tenant="t",
            name="n",
            document={},
            body_sha256="0" * 64,
            idempotency_key=None,
            output_for=lambda i: f"/results/{i}",
        )
        for bad in ("\x00", job.id[:-1] + "\x00", job.id.upper(), job.id + "\n"):
            assert store.get(bad) is None
            assert store.get(bad, tenant="t") is None
            assert store.cancel(bad, tenant="t") is None
        assert store.get(job.id, tenant="t") == job
    finally:
        engine.dispose()
