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
    exit 1, like every other error; Ctrl-C exits 130.
    """
    from featurestore.cli import commands  # noqa: F401  (registers the commands)

    click = _click()
    try:
        status = app(args=args, prog_name="featurestore", standalone_mode=False)
    except click.exceptions.ClickException as e:
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(0)
        message = " ".join(e.format_message().split())
        if isinstance(e, click.exceptions.UsageError):
            where = ctx.command_path if ctx is not None else "featurestore"
            message += f" (see `{where} --help`)"
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
