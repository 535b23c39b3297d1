"""What a command says when Ctrl-C stops it: one line on stderr naming what was kept
(and how to keep or drop it), then exit status 130."""

from __future__ import annotations

import typer

from featurestore.cli.app import EXIT_INTERRUPTED
from featurestore.cli.render import RowBars
from featurestore.store import FeatureStore

__all__ = ["interrupted", "kept_on_branch", "kept_online"]


def interrupted(what_was_kept: str) -> typer.Exit:
    """Print ``interrupted: ...`` on one line of stderr; raise the result to exit 130."""
    typer.echo(f"interrupted: {' '.join(what_was_kept.split())}", err=True)
    return typer.Exit(EXIT_INTERRUPTED)


def kept_on_branch(store: FeatureStore, branch: str) -> str:
    """The uncommitted changes ``branch`` holds now, with the commands to commit or drop them.

    A write stages all its rows or none, so this is exactly what survived.
    """
    try:
        count = sum(1 for _ in store.repository.branch(branch).uncommitted())
    except Exception:  # the interrupt may have broken the connection; say what we know
        return f"each write stages all its rows or none; see `featurestore diff {branch}`"
    if not count:
        return f"nothing is staged on {branch}"
    return (
        f"{count} uncommitted change(s) are staged on {branch}: commit them with "
        f"`featurestore commit -b {branch} -m MESSAGE` or drop them with "
        f"`featurestore branch reset {branch}`"
    )


def kept_online(bars: RowBars) -> str:
    """Which views an interrupted materialization finished (their state is recorded)."""
    views = [what.removeprefix("materialize ") for what in bars.started]
    done = views[:-1] if views else []
    last = views[-1] if views else None
    said = f"views materialized: {', '.join(done)}" if done else "no view finished"
    if last is not None:
        said += (
            f"; {last} was stopped part way (its values written so far stay, its run is not "
            "recorded)"
        )
    return said + "; run the same command again to finish (materializing is idempotent)"
