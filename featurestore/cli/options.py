"""Options shared by several commands: which features to read."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["FeaturesOpt", "FullNamesOpt", "ServiceOpt"]

FeaturesOpt = Annotated[
    list[str] | None,
    typer.Option("--features", "-f", help="view:feature refs, comma-separated or repeated."),
]
ServiceOpt = Annotated[
    str | None, typer.Option("--service", "-s", help="A feature service instead.")
]
FullNamesOpt = Annotated[
    bool, typer.Option("--full-feature-names", help="Name features view__feature.")
]
