"""The ``featurestore`` command line."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer

from featurestore.cli.app import EXIT_ERROR, EXIT_INTERRUPTED, app

__all__ = ["app", "main"]


def _click() -> Any:
    """The click that typer runs on (typer >= 0.2x vendors its own copy)."""
    try:
        return importlib.import_module("typer._click")
    except ImportError:
        return importlib.import_module("click")


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``featurestore`` console script.

    Usage errors (an unknown option, a missing argument) print one line on stderr and
    exit 1, like every other error; a bare command group prints its help once and exits
    0; Ctrl-C exits 130.
    """
    from featurestore.cli import commands  # noqa: F401  (registers the commands)
    from featurestore.cli.usage import plain_flags, usage_message

    click = _click()
    command = typer.main.get_command(app)
    plain_flags(command)
    try:
        status = command.main(args=args, prog_name="featurestore", standalone_mode=False)
    except click.exceptions.ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            # The rich help was printed while the error was made; a plain one is its text.
            if e.format_message().strip():
                typer.echo(e.format_message())
            sys.exit(0)
        if isinstance(e, click.exceptions.UsageError):
            message = usage_message(e)
        else:
            message = " ".join(e.format_message().split())
        typer.echo(f"error: {message}", err=True)
        sys.exit(EXIT_ERROR)
    except (getattr(click.exceptions, "Abort", typer.Abort), typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("FEATURESTORE_TRACEBACK"):
            raise
        said = " ".join(str(e).split())
        typer.echo(
            f"error: unexpected {type(e).__name__}: {said} (this is a bug; rerun with "
            "FEATURESTORE_TRACEBACK=1 to see where, and report it)",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    sys.exit(status if isinstance(status, int) else 0)
