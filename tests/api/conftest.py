"""Fixtures of the gateway tests: a tiny synthetic book under a data root, a real database
(SQLite, and a throwaway PostgreSQL database on 127.0.0.1:5432), and a real uvicorn server on
a free loopback port with an embedded runner.

PostgreSQL is skipped when unreachable, except with ``CI=true`` where it must be there.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from settle.api.app import create_app
from settle.api.settings import Settings
from settle.api.store import KeyStore, make_engine, migrate
from settle.engine.synth import generate
from tests.api.gateway import EMPLOYER_GROUP, Server

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding a 400-member synthetic book in ``book/``."""
    root = tmp_path_factory.mktemp("data")
    generate(root / "book", members=400, seed=7)
    return root


@pytest.fixture(scope="session")
def job_body(data_root: Path) -> dict[str, Any]:
    """The book's job.yaml as a JSON body, with paths relative to the data root."""
    doc = yaml.safe_load((data_root / "book" / "job.yaml").read_text())
    doc["period"] = {k: str(v) if k != "runout_months" else v for k, v in doc["period"].items()}
    doc["inputs"] = {table: f"book/{path}" for table, path in doc["inputs"].items()}
    doc["contracts"] = "book/contracts.yaml"
    return dict(doc)


def _postgres_database() -> Iterator[str]:
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL on 127.0.0.1:5432 is unreachable: {exc}")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is unreachable")
    name = f"settle_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'settle.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database of the shared test server."""
    yield from _database(request.param, tmp_path_factory)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of the test's own (migrated), on SQLite and on PostgreSQL."""
    for url in _database(request.param, tmp_path_factory):
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


def _keys(url: str, group: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        migrate(engine)
        store = KeyStore(engine)
        made = {
            "acme": store.create(tenant="acme", scopes=["jobs:submit", "jobs:read"])[1],
            "acme-reader": store.create(tenant="acme", scopes=["jobs:read"])[1],
            "acme-employer": store.create(tenant="acme", scopes=["jobs:read"], employer_groups=[group])[1],
            "globex": store.create(tenant="globex", scopes=["admin"])[1],
        }
        revoked, key = store.create(tenant="acme", scopes=["admin"])
        store.revoke(revoked.id)
        made["revoked"] = key
        return made
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def server(database_url: str, data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(
        home=home,
        database_url=database_url,
        data_roots=[str(data_root)],
        results=str(home / "results"),
        lease_seconds=5,
        poll_seconds=0.05,
    )
    keys = _keys(database_url, EMPLOYER_GROUP)
    app = create_app(settings, runner=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", settings, keys)
    finally:
        uv.should_exit = True
        thread.join(30)
        sock.close()
