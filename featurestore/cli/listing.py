"""``list`` what is defined at a ref (entities, views, services, sources) and the saved
datasets. ``--json`` prints each definition as the registry stores it (its canonical
JSON; an on-demand view's code under ``udf_source``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from featurestore.cli.app import RepoOpt, app, short
from featurestore.cli.output import emit_json
from featurestore.cli.render import columns_table, console, say, text
from featurestore.cli.session import open_store

list_app = typer.Typer(
    help="List the entities, views, services, sources or saved datasets.", no_args_is_help=True
)
app.add_typer(list_app, name="list")

Json = dict[str, Any]
RefOpt = Annotated[
    str | None,
    typer.Option("--ref", help="Branch, tag or commit to read (default: the default branch)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _names(items: Sequence[Json], key: str = "name") -> str:
    return ", ".join(str(i[key]) for i in items)


def _show(
    what: str,
    items: list[Json],
    columns: Sequence[str],
    row: Callable[[Json], Sequence[str]],
    as_json: bool,
    where: str,
) -> None:
    if as_json:
        emit_json(items)
        return
    if not items:
        say(f"No {what} at {where}")
        return
    table = columns_table(f"{what.capitalize()} at {where}", *columns)
    for item in items:
        table.add_row(*(text(v) for v in row(item)))
    console.print(table)


def _definitions(section: str, ref: str | None, repo: Any) -> tuple[list[Json], str]:
    with open_store(repo) as store:
        where = ref or store.config.default_branch
        items: list[Json] = store.registry(ref).to_dict()[section]
    return items, where


@list_app.command("entities")
def list_entities(ref: RefOpt = None, as_json: JsonOpt = False, repo: RepoOpt = None) -> None:
    """Entities: name, join keys, key type and description."""
    items, where = _definitions("entities", ref, repo)
    _show(
        "entities",
        items,
        ("entity", "join keys", "type", "description"),
        lambda e: (e["name"], ", ".join(e["join_keys"]), e["value_type"] or "-", e["description"]),
        as_json,
        where,
    )


@list_app.command("views")
def list_views(ref: RefOpt = None, as_json: JsonOpt = False, repo: RepoOpt = None) -> None:
    """Feature views and on-demand views: entities, features, source and ttl."""
    with open_store(repo) as store:
        where = ref or store.config.default_branch
        data = store.registry(ref).to_dict()
    views = [{**v, "kind": "feature view"} for v in data["feature_views"]]
    views += [{**v, "kind": "on-demand"} for v in data["on_demand_feature_views"]]
    views.sort(key=lambda v: v["name"])

    def row(v: Json) -> Sequence[str]:
        features = "\n".join(f["name"] for f in v["schema"])
        if v["kind"] == "on-demand":
            reads = "\n".join(s["name"] for s in v["sources"])
            return (f"{v['name']}\n(on-demand)", "-", features, reads)
        reads = f"{v['source']}\nttl {v['ttl'] or 'none'}"
        return (v["name"], "\n".join(v["entities"]) or "-", features, reads)

    _show("views", views, ("view", "entities", "features", "reads"), row, as_json, where)


@list_app.command("services")
def list_services(ref: RefOpt = None, as_json: JsonOpt = False, repo: RepoOpt = None) -> None:
    """Feature services: the views and features each one serves."""
    items, where = _definitions("feature_services", ref, repo)
    _show(
        "feature services",
        items,
        ("service", "features", "description"),
        lambda s: (
            s["name"],
            "\n".join(f"{p['name']}: {', '.join(p['features'])}" for p in s["features"]),
            s["description"],
        ),
        as_json,
        where,
    )


@list_app.command("sources")
def list_sources(ref: RefOpt = None, as_json: JsonOpt = False, repo: RepoOpt = None) -> None:
    """Data sources: table, push and request sources, with what each reads or writes."""
    items, where = _definitions("data_sources", ref, repo)

    def row(s: Json) -> Sequence[str]:
        if s["kind"] == "table":
            times = f"event time {s['timestamp_field']}"
            if s["created_timestamp_column"]:
                times += f"; created time {s['created_timestamp_column']}"
            return (s["name"], "table", f"table {s['table']} ({times})")
        if s["kind"] == "push":
            return (s["name"], "push", f"into {s['batch_source']}")
        if s["kind"] == "request":
            return (s["name"], "request", _names(s["schema"]))
        return (s["name"], str(s["kind"]), "")

    _show("sources", items, ("source", "kind", "details"), row, as_json, where)


@list_app.command("datasets")
def list_datasets(as_json: JsonOpt = False, repo: RepoOpt = None) -> None:
    """Saved datasets: the commit, features and rows each training set was built from."""
    with open_store(repo) as store:
        found = store.saved_datasets()
    items = [
        {
            "name": d.name,
            "commit": d.commit_id,
            "feature_refs": list(d.feature_refs),
            "definitions_hash": d.definitions_hash,
            "entity_rows_hash": d.entity_rows_hash,
            "num_rows": d.num_rows,
            "created": d.created.isoformat(),
            "redacted": d.redacted,
        }
        for d in found
    ]
    if as_json:
        emit_json(items)
        return
    if not items:
        say("No saved datasets")
        return
    table = columns_table("Saved datasets", "dataset", "commit", "rows", "created (UTC)",
                          "features", fixed=("dataset", "commit", "rows"))  # fmt: skip
    for d in found:
        table.add_row(
            text(d.name), short(d.commit_id),
            f"{d.num_rows} (redacted)" if d.redacted else str(d.num_rows), text(d.created),
            text(", ".join(d.feature_refs)),
        )  # fmt: skip
    console.print(table)
