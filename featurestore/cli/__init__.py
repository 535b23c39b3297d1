"""The ``featurestore`` command line."""

from __future__ import annotations

from featurestore.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``featurestore`` console script."""
    from featurestore.cli import commands  # noqa: F401  (registers the commands)

    app()
