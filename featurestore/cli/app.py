"""The Typer application that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="featurestore",
    help="A feature store with data versioning built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
