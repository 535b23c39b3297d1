"""Progress reports of long operations (ingest, materialize, training-set builds).

A ``Progress`` callback is called as ``progress(what, done, total)``: ``what`` names the
step (e.g. ``"materialize driver_hourly_stats"``), ``done`` counts the rows handled so
far and only grows, ``total`` is the number of rows the step will handle when it is
known up front (else None). A step reports ``done == total`` when it ends.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "report"]

Progress = Callable[[str, int, int | None], None]
"""``(what, done, total or None)``; units: rows."""


def report(progress: Progress | None, what: str, done: int, total: int | None) -> None:
    """Call ``progress`` if one was given (so callers need no ``if`` of their own)."""
    if progress is not None:
        progress(what, done, total)
