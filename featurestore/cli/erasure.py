"""Forgetting a person: ``erase`` an entity from the whole history and the online store,
and ``erasures``, the audit of what was erased, when, why and by whom."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from featurestore.cli.app import RepoOpt, app
from featurestore.cli.output import emit_json
from featurestore.cli.parsing import parse_entity_row
from featurestore.cli.render import columns_table, console, say
from featurestore.cli.session import fail, open_store
from featurestore.erasure import ErasureRecord

EntityArg = Annotated[
    list[str],
    typer.Argument(
        help="The entity's join keys as key=value (driver_id=1001); several for a composite key."
    ),
]


def _entity(parts: list[str] | None, command: str) -> dict[str, Any]:
    """The entity given as ``key=value`` arguments (a usage error otherwise)."""
    row: dict[str, Any] = {}
    for part in parts or ():
        pieces = [p.partition("=") for p in part.split(",")]
        if any(not sep or not key.strip() for key, sep, _ in pieces):
            raise fail(
                f"{part!r}: give the entity as KEY=VALUE arguments, one per join key, "
                f"e.g. `featurestore {command} driver_id=1001`"
            )
        row.update(parse_entity_row(part))
    return row


def _json(r: ErasureRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "erased_at": r.erased_at.isoformat(),
        "reason": r.reason,
        "by": r.by,
        "entity_keys": list(r.entity_keys),
        "key_hash": r.key_hash,
        "commits": dict(r.commits),
        "datasets": list(r.datasets),
        "tables": dict(r.tables),
        "rows_removed": r.rows_removed,
        **({} if r.online_keys_deleted is None else {"online_keys_deleted": r.online_keys_deleted}),
        **({} if r.objects_collected is None else {"objects_collected": r.objects_collected}),
        "notes": list(r.notes),
    }


def _confirmed(question: str) -> bool:
    """The user's answer; no answer (end of input) is no."""
    try:
        return bool(typer.confirm(question, default=False))
    except typer.Abort:
        typer.echo("")
        return False


@app.command()
def erase(
    entity: EntityArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the audit), e.g. 'GDPR request 42'.")
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who asked (default: FEATURESTORE_AUTHOR or the user)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking first.")] = False,
    keep_objects: Annotated[
        bool,
        typer.Option(
            "--keep-objects",
            help="Leave the replaced objects on disk for a later `featurestore gc`.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
    repo: RepoOpt = None,
) -> None:
    """Remove an entity's rows from every table, saved dataset and serving log in the
    whole history (commits get new ids), its online keys in every branch namespace, and
    the old objects from disk; an audit record keeps when, why and by whom."""
    keys = _entity(entity, "erase")
    if not reason.strip():
        raise fail("--reason: say why the entity is erased (kept in the audit), e.g. "
                   "--reason 'GDPR request 42'")  # fmt: skip
    if by is not None and not by.strip():
        raise fail("--by: say who asked for the erasure, or leave it out")
    shown = ", ".join(f"{k}={v!r}" for k, v in keys.items())
    with open_store(repo) as store:
        if not yes and not _confirmed(
            f"Erase {shown} from the whole history of {store.config.project!r}? Every "
            "commit holding it gets a new id; this cannot be undone"
        ):
            raise fail("nothing erased (pass --yes to erase without asking)")
        record = store.erase(keys, reason=reason, by=by, collect=not keep_objects)
    if as_json:
        emit_json(_json(record))
        return
    collected = record.objects_collected
    disk = "" if collected is None else f", {collected} object(s) removed from disk"
    if not record.commits and not record.rows_removed:
        say(
            f"No rows of {shown} were left: erasure {record.id} recorded, "
            f"{record.online_keys_deleted} online key(s) deleted{disk}"
        )
        for note in record.notes:
            say(f"note: {note}")
        return
    say(
        f"Erased {shown}: erasure {record.id}, {record.rows_removed} row(s) removed, "
        f"{len(record.commits)} commit(s) rewritten, {record.online_keys_deleted} online "
        f"key(s) deleted{disk}"
    )
    if record.datasets:
        say(f"Saved datasets redacted: {', '.join(record.datasets)}")
    for note in record.notes:
        say(f"note: {note}")


@app.command()
def erasures(
    entity: Annotated[
        list[str] | None,
        typer.Argument(help="Only the erasures of this entity (key=value); default: all."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    repo: RepoOpt = None,
) -> None:
    """The erasure audit: when each erasure ran, why, by whom, and what it changed."""
    keys = _entity(entity, "erasures")
    with open_store(repo) as store:
        records = store.erasures(keys or None)
    if as_json:
        emit_json([_json(r) for r in records])
        return
    if not records:
        say(
            "No erasures"
            + (f" of {', '.join(f'{k}={v!r}' for k, v in keys.items())}" if keys else "")
        )
        return
    table = columns_table(
        "Erasures", "erased (UTC)", "id", "by", "reason", "rows", "commits", "datasets"
    )
    for r in records:
        table.add_row(
            r.erased_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.id[:12],
            escape(r.by),
            escape(r.reason),
            str(r.rows_removed),
            str(len(r.commits)),
            escape(", ".join(r.datasets)) or "-",
        )
    console.print(table)
