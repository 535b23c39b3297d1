"""Offline data commands: ``ingest`` rows, build a training set (``get-historical``),
and run read-only ``sql`` over the tables at a ref."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import pyarrow as pa
import typer

from featurestore.boundary import translated
from featurestore.cli.app import RepoOpt, app, short
from featurestore.cli.interrupts import interrupted, kept_on_branch
from featurestore.cli.options import FeaturesOpt, FullNamesOpt, ServiceOpt
from featurestore.cli.output import OUTPUT_SUFFIXES, emit_json, rows_json, write_table
from featurestore.cli.parsing import read_table, split_names
from featurestore.cli.render import RowBars, arrow_table, console, counted, say, spinner
from featurestore.cli.session import fail, open_store
from featurestore.definitions import PushSource, TableSource
from featurestore.store import FeatureStore

if TYPE_CHECKING:
    import offline

RefOpt = Annotated[
    str | None, typer.Option("--ref", help="Branch, tag or commit to read (default: main).")
]
MODES = ("append", "upsert", "delete")


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="The source (or feature view) to write to.")],
    file: Annotated[Path, typer.Argument(help="Parquet, CSV, JSON lines or Arrow file.")],
    mode: Annotated[
        str, typer.Option("--mode", help="append, upsert (by key) or delete (rows by key).")
    ] = "append",
    keys: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            "-k",
            help="Row key columns for upsert/delete (default: the "
            "views' join keys and event time).",
        ),
    ] = None,
    branch: Annotated[
        str | None, typer.Option("--branch", "-b", help="The branch to write on.")
    ] = None,
    commit: Annotated[bool, typer.Option("--commit", help="Commit after writing.")] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="The commit message (with --commit).")
    ] = None,
    repo: RepoOpt = None,
) -> None:
    """Write the rows of FILE into SOURCE's table on a branch (checked before writing)."""
    if mode not in MODES:
        raise fail(f"unknown --mode {mode!r}: use append, upsert or delete")
    if message is not None and not commit:
        raise fail("--message is used only with --commit; add --commit")
    with open_store(repo) as store:
        name = branch or store.config.default_branch
        try:
            with spinner(f"Reading {file}..."):
                data = read_table(file, _target_schema(store, source, name))
            with RowBars() as bars:
                result = store.ingest(
                    source,
                    data,
                    branch=name,
                    mode=cast(Literal["append", "upsert", "delete"], mode),
                    keys=split_names(keys) or None,
                    progress=bars,
                )
            say(_said_write(mode, data.num_rows, file, source, name, result))
            if commit and _nothing_staged(store, name):
                say(
                    f"Nothing to commit: {name} already holds these rows and has no other "
                    "uncommitted change"
                )
            elif commit:
                c = store.commit(
                    message or f"ingest {file.name} into {source} ({mode})", branch=name
                )
                say(f"Committed {short(c.id)} on {name}: {c.message}")
        except KeyboardInterrupt:
            raise interrupted(kept_on_branch(store, name)) from None


def _target_schema(store: FeatureStore, source: str, branch: str) -> pa.Schema | None:
    """The schema of the table ``source`` writes to, if it is known on ``branch``."""
    registry = store.registry(branch)
    found = registry.data_sources_by_name.get(source)
    if isinstance(found, PushSource):
        table = found.batch_source.table
    elif isinstance(found, TableSource):
        table = found.table
    elif source in registry.feature_views_by_name:
        table = registry.feature_views_by_name[source].source.table
    else:
        return None  # ingest names what is known
    with translated():
        if table not in store.tables.tables(branch):
            return None
        return store.tables.schema(branch, table)


def _nothing_staged(store: FeatureStore, branch: str) -> bool:
    """Whether ``branch`` has no uncommitted change (a write of rows it holds stages none)."""
    with translated():
        return next(iter(store.repository.branch(branch).uncommitted()), None) is None


def _said_write(
    mode: str, rows: int, file: Path, source: str, branch: str, result: offline.WriteResult
) -> str:
    """What an ingest did; a delete counts the rows it removed, not the rows of the file."""
    if mode != "delete":
        return (
            f"{mode}: {rows} rows from {file} into {source} on {branch} ({_describe_write(result)})"
        )
    keys = f"the keys of the {counted(rows, 'row')} in {file}"
    if not result.rows_deleted:
        return f"delete: no row of {source} on {branch} has {keys}; nothing was removed"
    return (
        f"delete: removed {counted(result.rows_deleted, 'row')} of {source} on {branch} with "
        f"{keys} ({len(result.files_removed)} file(s) rewritten)"
    )


def _describe_write(result: offline.WriteResult) -> str:
    parts = [f"{result.rows_written} rows staged"]
    if result.rows_deleted:
        parts.append(f"{result.rows_deleted} removed")
    parts.append(f"{len(result.files_added)} file(s) added")
    if result.files_removed:
        parts.append(f"{len(result.files_removed)} rewritten")
    return ", ".join(parts)


@app.command("get-historical")
def get_historical(
    entity_file: Annotated[
        Path, typer.Argument(help="Entity rows: join keys, an event time column, any labels.")
    ],
    out: Annotated[Path, typer.Argument(help="The Parquet file to write the training set to.")],
    features: FeaturesOpt = None,
    service: ServiceOpt = None,
    ref: RefOpt = None,
    full_feature_names: FullNamesOpt = False,
    exclude_created_after: Annotated[
        bool,
        typer.Option("--exclude-created-after", help="Drop rows created after each entity row."),
    ] = False,
    repo: RepoOpt = None,
) -> None:
    """Build a point-in-time correct training set at a ref and write it as Parquet."""
    refs = split_names(features)
    if bool(refs) == (service is not None):
        raise fail("pass either --features view:feature,... or --service NAME")
    with open_store(repo) as store:
        entities = read_table(entity_file)
        wanted = store.get_feature_service(service, ref) if service is not None else refs
        job = store.get_historical_features(
            entities,
            wanted,
            full_feature_names=full_feature_names,
            ref=ref,
            exclude_created_after=exclude_created_after,
        )
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            # streamed batch by batch: the training set is never held whole
            with RowBars(f"joining {entities.num_rows} entity rows") as bars:
                rows = job.to_parquet(str(out), progress=bars)
        except KeyboardInterrupt:
            raise interrupted(f"no training set was written to {out}") from None
        import pyarrow.parquet as pq

        with pq.ParquetFile(out) as written:
            head = next(written.iter_batches(batch_size=5), None)
            columns = written.schema_arrow
        preview = pa.Table.from_batches([head]) if head is not None else columns.empty_table()
        shown = arrow_table(preview, title=f"Training set at {ref or 'main'}", max_rows=5)
        if rows > preview.num_rows:
            shown.caption = f"{preview.num_rows} of {rows} rows"
        console.print(shown)
        say(
            f"Wrote {counted(rows, 'row')} x {counted(len(columns), 'column')} "
            f"to {out} "
            f"(commit {short(job.commit_id)}, definitions {job.definitions_hash[:12]})"
        )


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query; tables by source name.")],
    ref: RefOpt = None,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows to print at most.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every row as a JSON array of objects.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write every row to FILE instead: .parquet, .csv, .json (an array) "
            "or .jsonl (one object a line).",
        ),
    ] = None,
    repo: RepoOpt = None,
) -> None:
    """Run a read-only SQL query (DuckDB) over the offline tables at a ref."""
    if output is not None and output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise fail(
            f"cannot write {output}: unknown file type {output.suffix or '(none)'!r}; "
            f"use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    with open_store(repo) as store:
        with spinner("Querying..."):
            table = store.sql(query, ref=ref)
        if output is not None:
            write_table(table, output)
            rows, columns = counted(table.num_rows, "row"), counted(table.num_columns, "column")
            say(f"Wrote {rows} x {columns} to {output}")
            return
    if as_json:
        emit_json(rows_json(table))
        return
    console.print(arrow_table(table, max_rows=max_rows))


@app.command()
def compact(
    source: Annotated[
        str, typer.Argument(help="The source (or feature view) whose table to compact.")
    ],
    branch: Annotated[
        str | None, typer.Option("--branch", "-b", help="The branch to compact on (default: main).")
    ] = None,
    repo: RepoOpt = None,
) -> None:
    """Rewrite a table's small files into large sorted ones, as a commit changing no row.

    The branch must have no uncommitted changes (commit or reset them first).
    """
    with open_store(repo) as store:
        name = branch or store.config.default_branch
        with spinner(f"Compacting {source} on {name}..."):
            c = store.compact(source, branch=name)
        if c is None:
            say(f"Nothing to compact: {source} on {name} is already compact")
            return
        say(f"Committed {short(c.id)} on {name}: {c.message}")
