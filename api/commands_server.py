"""Gateway commands of the command line: `settle serve`, `settle worker`, `settle keys …` and
`settle migrate`.  All settings come from ``SETTLE_*`` environment variables (docs/api.md)."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from settle.api.console import console
from settle.api.settings import Settings, load_settings
from settle.engine.errors import UserError

__all__ = ["keys_app", "migrate", "serve", "worker"]

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


class KeyCommandError(UserError):
    """A key command was given an unknown key id or scope."""


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from settle.api.store import make_engine, migrate

    engine = make_engine(settings.resolved_database_url)
    if settings.auto_migrate:
        migrate(engine)
    return engine


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    runner: Annotated[bool, typer.Option(help="Run an embedded runner (default SETTLE_RUNNER).")] = True,
) -> None:
    """Serve the HTTP API, with an embedded runner unless --no-runner."""
    import uvicorn

    from settle.api.app import create_app

    settings = load_settings()
    _logging()
    uvicorn.run(
        create_app(settings, runner=runner and settings.runner), host=host, port=port, log_level="info"
    )


def worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (default: none).")
    ] = None,
) -> None:
    """Run a runner alone: claim queued jobs from the store and settle them until stopped."""
    from settle.api.runner import Runner
    from settle.api.store import JobStore

    settings = load_settings()
    _logging()
    engine = _store(settings)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    runner = Runner(
        JobStore(engine),
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.poll_seconds,
        job_nice=settings.job_nice,
    )

    def _stop(_signum: int, _frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        runner.run_forever()
    finally:
        engine.dispose()


def migrate() -> None:
    """Create or upgrade the job store's schema to the latest revision."""
    from settle.api.store import make_engine
    from settle.api.store import migrate as upgrade

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    console.print("the job store's schema is up to date")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant whose jobs the key sees.")],
    scope: Annotated[list[str], typer.Option(help="jobs:submit, jobs:read or admin (repeatable).")],
    employer: Annotated[
        list[str] | None, typer.Option(help="Restrict to these employer groups (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
) -> None:
    """Create an API key and print it on the last line (it is shown only once)."""
    from settle.api.store import SCOPES, KeyStore

    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        raise KeyCommandError(
            f"--scope: unknown scope(s) {', '.join(unknown)}; allowed: {', '.join(SCOPES)}."
        )
    engine = _store(load_settings())
    try:
        record, key = KeyStore(engine).create(
            tenant=tenant, scopes=scope, employer_groups=employer, name=name
        )
    finally:
        engine.dispose()
    groups = ", ".join(sorted(record.employer_groups)) if record.employer_groups else "all"
    console.print(
        f"key {record.id} for tenant {record.tenant}, scopes {', '.join(sorted(record.scopes))}, "
        f"employer groups {groups}",
        markup=False,
        highlight=False,
    )
    typer.echo(key)


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None) -> None:
    """List API keys (never the keys themselves)."""
    from rich.table import Table

    from settle.api.store import KeyStore

    engine = _store(load_settings())
    try:
        records = KeyStore(engine).list_keys(tenant)
    finally:
        engine.dispose()
    table = Table(title="API keys", title_justify="left")
    for column in ("id", "tenant", "scopes", "employer groups", "name", "created", "revoked"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.id,
            r.tenant,
            ", ".join(sorted(r.scopes)),
            ", ".join(sorted(r.employer_groups)) if r.employer_groups else "all",
            r.name or "",
            r.created_at.isoformat(timespec="seconds"),
            r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The id shown by `keys list`.")],
) -> None:
    """Revoke an API key by its id; requests with it are refused from now on."""
    from settle.api.store import KeyStore

    engine = _store(load_settings())
    try:
        revoked = KeyStore(engine).revoke(key_id)
    finally:
        engine.dispose()
    if not revoked:
        raise KeyCommandError(f"KEY_ID: no live API key with id {key_id!r} (see `settle keys list`).")
    console.print(f"revoked key {key_id}")
