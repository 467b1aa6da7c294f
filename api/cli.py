"""The `settle` command line.

Every command reports a user mistake (:class:`~settle.engine.errors.UserError`) as one
paragraph on stderr with exit code 2, and never as a traceback; anything else is a system
failure and keeps its traceback (exit code 1).
"""

from __future__ import annotations

import sys

import typer

from settle.api import commands_data, commands_server, commands_settle
from settle.api.console import err_console
from settle.engine import __version__
from settle.engine.errors import UserError

app = typer.Typer(
    name="settle",
    help="Settle value-based health-care contracts at payer scale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Settle value-based health-care contracts at payer scale."""


app.command()(commands_data.synth)
app.command()(commands_data.validate)
app.command()(commands_settle.run)
app.command()(commands_settle.demo)
app.command()(commands_settle.whatif)
app.command()(commands_server.serve)
app.command()(commands_server.worker)
app.command()(commands_server.migrate)
app.add_typer(commands_server.keys_app, name="keys")


@app.command()
def version() -> None:
    """Print Settle's version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `settle` console script."""
    try:
        app(args=argv, standalone_mode=False)
    except UserError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        return 1
    except typer.TyperException as exc:  # usage errors: show them as click would, exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {exc}", markup=False, highlight=False)
        return int(getattr(exc, "exit_code", 2))
    return 0


def run() -> None:
    """Console-script wrapper: exits with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
