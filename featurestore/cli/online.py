"""Online commands: ``materialize``, ``materialize-incremental``, ``status`` and one
``online`` lookup."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import typer
from rich.table import Table

from featurestore.cli.app import RepoOpt, app
from featurestore.cli.interrupts import interrupted, kept_online
from featurestore.cli.options import FeaturesOpt, FullNamesOpt, ServiceOpt
from featurestore.cli.parsing import parse_entity_row, parse_when, split_names
from featurestore.cli.render import (
    RowBars,
    console,
    err_console,
    materialize_table,
    say,
    status_table,
    text,
)
from featurestore.cli.session import fail, open_store
from featurestore.lookup import OnlineResponse

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

ViewsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--views",
        "-v",
        help="Feature views, comma-separated or repeated (default: every online view).",
    ),
]
RefOpt = Annotated[
    str | None,
    typer.Option(
        "--ref",
        help="The ref to materialize from (default: main): a branch writes its own "
        "online namespace; a tag or commit is served on main (a rollback).",
    ),
]
WHEN_HELP = "ISO 8601 (2025-01-31T12:00:00Z; naive is UTC) or 'now'."


@app.command()
def materialize(
    start: Annotated[str, typer.Argument(help=f"Start of the interval: {WHEN_HELP}")],
    end: Annotated[str, typer.Argument(help=f"End of the interval: {WHEN_HELP}")],
    views: ViewsOpt = None,
    ref: RefOpt = None,
    repo: RepoOpt = None,
) -> None:
    """Write each view's latest row per entity in [START, END] to the online store."""
    with open_store(repo) as store:
        start_at, end_at = parse_when(start), parse_when(end)
        if start_at > end_at:
            raise fail(f"START {start_at.isoformat()} is after END {end_at.isoformat()}")
        bars = RowBars("reading the rows to materialize")
        try:
            with bars:
                results = store.materialize(
                    start_at, end_at, split_names(views) or None, ref, progress=bars
                )
        except KeyboardInterrupt:
            raise interrupted(kept_online(bars)) from None
        console.print(materialize_table(results))


@app.command("materialize-incremental")
def materialize_incremental(
    end: Annotated[str, typer.Argument(help=f"Materialize up to: {WHEN_HELP}")],
    views: ViewsOpt = None,
    ref: RefOpt = None,
    repo: RepoOpt = None,
) -> None:
    """Materialize what is new since each view's last run, up to END."""
    with open_store(repo) as store:
        end_at = parse_when(end)
        bars = RowBars("reading what is new since the last run")
        try:
            with bars:
                results = store.materialize_incremental(
                    end_at, split_names(views) or None, ref, progress=bars
                )
        except KeyboardInterrupt:
            raise interrupted(kept_online(bars)) from None
        console.print(materialize_table(results))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    repo: RepoOpt = None,
) -> None:
    """Which branch and commit each online view serves, up to when, and how far behind;
    main's online data first, then each branch's own (materialized with --ref)."""
    with open_store(repo) as store:
        statuses = store.online_status()
    if as_json:
        rows = [
            {
                "view": s.view,
                "namespace": s.namespace,
                "branch": s.branch,
                "commit_id": s.commit_id,
                "watermark": s.watermark.isoformat() if s.watermark else None,
                "branch_head": s.branch_head,
                "commits_behind": s.commits_behind,
                "up_to_date": s.up_to_date,
            }
            for s in statuses
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not statuses:
        say("No online views: apply a feature view with online=True first")
        return
    console.print(status_table(statuses))


@app.command()
def teardown(repo: RepoOpt = None) -> None:
    """Remove the project's online data (every view's values, on every branch); offline
    data and commits stay."""
    with open_store(repo) as store:
        removed = store.teardown()
    console.print(f"Removed {removed} online key(s); materialize again to serve")


@app.command()
def online(
    entities: Annotated[
        list[str],
        typer.Option(
            "--entity",
            "-e",
            help="One entity row as key=value[,key=value] (join "
            "keys and request data); repeat for more rows.",
        ),
    ],
    features: FeaturesOpt = None,
    service: ServiceOpt = None,
    full_feature_names: FullNamesOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ref: Annotated[
        str | None,
        typer.Option("--ref", help="The branch whose online data to read (default: main)."),
    ] = None,
    repo: RepoOpt = None,
) -> None:
    """Look features up in the online store for one or more entity rows."""
    refs = split_names(features)
    if bool(refs) == (service is not None):
        raise fail("pass either --features view:feature,... or --service NAME")
    with open_store(repo) as store:
        rows = [parse_entity_row(e) for e in entities]
        columns = sorted({k for row in rows for k in row})
        missing = [k for row in rows for k in columns if k not in row]
        if missing:
            raise fail(f"every --entity must give the same keys {columns}; missing {missing[0]!r}")
        wanted = store.get_feature_service(service, ref) if service is not None else refs
        response = store.get_online_features(
            wanted, rows, full_feature_names=full_feature_names, ref=ref
        )
        hint = _never_materialized_hint(store, response, ref)
    if hint:
        err_console.print(hint, markup=False, highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(_json_rows(response), indent=2, default=_json_default))
        return
    console.print(_lookup_table(response, rows))
    if response.request_id is not None:
        say(
            f"Logged as request {response.request_id}: "
            f"`featurestore explain {response.request_id}` explains it"
        )


def _never_materialized_hint(
    store: FeatureStore, response: OnlineResponse, ref: str | None
) -> str | None:
    """A line saying to materialize, when every value is NOT_FOUND and the namespace
    read holds no materialization record (checked only then: one more command)."""
    from featurestore.namespaces import materialized_any

    statuses = [s for n in response.feature_names for s in response.statuses(n)]
    if not statuses or any(s != "NOT_FOUND" for s in statuses):
        return None
    if materialized_any(store, ref):
        return None
    branch = ref or store.config.default_branch
    flag = "" if branch == store.config.default_branch else f" --ref {branch}"
    return (
        f"hint: nothing was ever materialized into the online namespace of {branch!r}; "
        f"run `featurestore materialize START now{flag}` (e.g. 2025-01-01 now) to serve it"
    )


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _json_rows(response: OnlineResponse) -> list[dict[str, Any]]:
    """One object per entity row: keys, then per feature its value and status, then the
    lookup's ``request_id`` in the serving log (null when it was not logged)."""
    table: pa.Table = response.to_arrow()
    statuses = {n: response.statuses(n) for n in response.feature_names}
    out = []
    for i, row in enumerate(table.to_pylist()):
        row["statuses"] = {n: statuses[n][i] for n in response.feature_names}
        row.setdefault("request_id", response.request_id)
        out.append(row)
    return out


def _lookup_table(response: OnlineResponse, rows: list[dict[str, Any]]) -> Table:
    """Entity keys, then each feature; missing values show their status."""
    table = Table(title="Online features")
    keys = list(response.entity_columns)
    for name in (*keys, *response.feature_names):
        table.add_column(name, overflow="fold")
    statuses = {n: response.statuses(n) for n in response.feature_names}
    values = {n: response.features[n].to_pylist() for n in response.feature_names}
    key_values = {k: response.entity_columns[k].to_pylist() for k in keys}
    for i in range(len(rows)):
        cells = [text(key_values[k][i]) for k in keys]
        for n in response.feature_names:
            cells.append(
                text(values[n][i]) if statuses[n][i] == "PRESENT" else f"[dim]{statuses[n][i]}[/]"
            )
        table.add_row(*cells)
    return table
