"""Where served values and training sets came from: ``explain`` a logged lookup, and the
``lineage`` of a saved dataset."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from featurestore.cli.app import RepoOpt, app, short
from featurestore.cli.output import emit_json
from featurestore.cli.render import columns_table, console, say, text
from featurestore.cli.session import fail, open_store
from featurestore.errors import NotFoundError
from featurestore.explain import ExplainedValue

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _facts(rows: list[tuple[str, str]]) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    for key, value in rows:
        facts.add_row(key, value)
    return facts


@app.command()
def explain(
    request_id: Annotated[
        str, typer.Argument(help="The request id of a logged lookup (X-Request-Id).")
    ],
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """Explain a logged lookup: what it served, from which commit, and the recomputation.

    The same features are recomputed point-in-time at the lookup's time on the commit
    each value came from; values that differ (training/serving skew) are marked.
    """
    with open_store(repo) as store:
        explained = store.explain(request_id)
    if as_json:
        emit_json(explained.to_dict())
        return
    commits = " ".join(short(c) for c in explained.commits) or "(none: nothing materialized)"
    console.print(
        _facts(
            [
                ("request", explained.request_id),
                ("time (UTC)", explained.requested_at.strftime("%Y-%m-%d %H:%M:%S.%f")),
                ("service", explained.feature_service),
                ("served from", f"{explained.ref}, commit {commits}"),
            ]
        ),
        markup=False,
        highlight=False,
    )
    rows: dict[int, list[ExplainedValue]] = {}
    for v in explained.values:
        rows.setdefault(v.row, []).append(v)
    for row, values in rows.items():
        entity = ", ".join(f"{k}={val}" for k, val in values[0].entity.items())
        table = columns_table(
            f"Row {row}: {escape(entity)}" if entity else f"Row {row}",
            "feature",
            "served",
            "commit",
            "recomputed",
            "match",
            fixed=("commit", "match"),
        )
        for v in values:
            match = (
                "[dim]?[/]" if v.matches is None else ("yes" if v.matches else "[red]DIFFERS[/]")
            )
            table.add_row(
                escape(v.feature),
                text(v.served),
                short(v.commit_id) if v.commit_id else "[dim]none[/]",
                text(v.recomputed),
                match,
            )
        console.print(table)
    notes = dict.fromkeys(v.note for v in explained.values if v.note)
    if explained.erased_note:
        notes[explained.erased_note] = None
    for note in notes:
        say(f"note: {note}")
    if explained.skew:
        say(f"{len(explained.differences)} value(s) differ: training/serving skew")
    else:
        say("No differences: every served value equals its recomputation")


@app.command()
def lineage(
    name: Annotated[str, typer.Argument(help="The saved dataset's name.")],
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """The commit, definitions, tables and exact objects a saved dataset was built from."""
    with open_store(repo) as store:
        try:
            found = store.lineage(name)
        except NotFoundError as e:
            if not str(e).startswith("no saved dataset named"):
                raise
            raise fail(
                f"no saved dataset named {name!r}; list them with `featurestore list datasets`"
            ) from None
    if as_json:
        emit_json(found.to_dict())
        return
    console.print(
        _facts(
            [
                ("dataset", found.dataset),
                ("commit", f"{found.commit_id} ({found.commit_message})"),
                ("saved in", found.saved_in or "(unknown)"),
                (
                    "redacted",
                    f"yes, by erasure {', '.join(found.erasures) or '(unknown)'}"
                    if found.redacted
                    else "no",
                ),
                ("features", ", ".join(found.feature_refs)),
                (
                    "definitions",
                    f"{found.definitions_hash[:16]} "
                    + ("(match the commit)" if found.definitions_match else "(DO NOT match)"),
                ),
            ]
        ),
        markup=False,
        highlight=False,
    )
    views = columns_table("Views", "view", "kind", "table", "definition sha256", fixed=("view",))
    for v in found.views:
        views.add_row(escape(v.name), v.kind, escape(v.table or "-"), v.definition_hash[:16])
    console.print(views)
    objects = columns_table("Objects read", "path", "checksum", "rows", fixed=("rows",))
    for t in found.tables:
        for o in t.objects:
            objects.add_row(escape(o.path), o.checksum[:16], "-" if o.rows is None else str(o.rows))
    console.print(objects)
