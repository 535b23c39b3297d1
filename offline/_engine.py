"""DuckDB engine: exact point-in-time joins, windowed aggregates, latest rows, SQL.

One DuckDB connection per engine; every call works on its own cursor, so an
engine can be shared between threads. Results stream as Arrow record batches.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import duckdb
import fsspec
import numpy as np
import polars as pl
import pyarrow as pa

from offline import _fs
from offline._compute import PartitionFn, RowQuery, query_rows
from offline._errors import CorruptTableError, QueryError, SchemaMismatchError
from offline._polars_pit import polars_as_of_join
from offline._specs import AsOfSpec, WindowAgg, WindowSpec
from offline._sql import ident, literal, literal_list, ts_literal
from offline._time import is_time, micros, to_utc_us, utc_datetime

__all__ = ["Engine"]

Entities: TypeAlias = pa.Table | pa.RecordBatchReader

_RN = "__fs_rn"
_TS = "__fs_ts"
_BATCH_ROWS = 128 * 1024


def _source(files: Sequence[str]) -> str:
    return f"read_parquet({literal_list(files)})"


def _ts(col: str) -> str:
    return f"CAST({ident(col)} AS TIMESTAMPTZ)"


_USER_ERRORS = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.PermissionException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.NotImplementedException,
    duckdb.TypeMismatchException,
)
"""DuckDB errors that a query causes, never damaged data: no file is checked for them."""


def _damaged(
    files: Sequence[str], fs: fsspec.AbstractFileSystem | None = None
) -> tuple[str, str] | None:
    """The first of ``files`` that is not a readable Parquet file, and why (None: all read).

    Reads every row group: this runs only after a read failed, to tell damaged data
    from a bad query.
    """
    for f in dict.fromkeys(files):
        if _fs.is_url(f) and fs is None:
            continue  # unreadable here: never called damaged without reading it
        try:
            pf = _fs.parquet_file(f, fs)
            for i in range(pf.num_row_groups):
                pf.read_row_group(i)
        except (OSError, ValueError, pa.ArrowException) as e:
            return f, str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def corrupt_table_error(
    files: Mapping[str, Sequence[str]] | Sequence[str],
    e: BaseException,
    fs: fsspec.AbstractFileSystem | None = None,
) -> CorruptTableError | None:
    """A ``CorruptTableError`` naming the damaged object (and table), if ``e`` came from one.

    ``files`` maps table names to their files, or is a plain list of files. The message
    names the object by its file name only, never a local path.
    """
    if isinstance(e, _USER_ERRORS):
        return None
    tables = files if isinstance(files, Mapping) else {"": files}
    for table, paths in tables.items():
        found = _damaged(paths, fs)
        if found is None:
            continue
        path, why = found
        where = f"table {table!r}" if table else "a table this read needs"
        return CorruptTableError(
            f"{where}: its Parquet object {os.path.basename(path)} cannot be read ({why}). "
            "The stored bytes are damaged: restore that object from a backup of the storage, "
            "or revert the commit that added it and write its rows again"
        )
    return None


def _stream(
    cur: duckdb.DuckDBPyConnection,
    query: str,
    keep: object = None,
    files: Sequence[str] = (),
    fs: fsspec.AbstractFileSystem | None = None,
) -> pa.RecordBatchReader:
    """Run ``query`` on ``cur`` and stream it; the cursor closes when the stream ends.

    A failure while reading ``files`` that comes from a damaged one is a
    ``CorruptTableError``; any other DuckDB failure is a ``QueryError``.
    """
    try:
        reader = cur.sql(query).to_arrow_reader(_BATCH_ROWS)
    except duckdb.Error as e:
        cur.close()
        raise corrupt_table_error(files, e, fs) or QueryError(f"query failed: {e}") from e

    def batches() -> Iterator[pa.RecordBatch]:
        _ = keep
        try:
            yield from reader
        except (duckdb.Error, OSError, pa.ArrowException) as e:
            corrupt = corrupt_table_error(files, e, fs)
            if corrupt is not None:
                raise corrupt from e
            if isinstance(e, duckdb.Error):
                raise QueryError(f"query failed: {e}") from e
            raise
        finally:
            cur.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _with_row_numbers(entities: Entities, entity_ts: str) -> Entities:
    """Add the row number (for order) and the UTC event time of each entity row."""
    schema = entities.schema
    if entity_ts not in schema.names:
        raise SchemaMismatchError(
            entity_ts, "a timestamp column", "no such column", f"entity columns are {schema.names}"
        )
    if not is_time(schema.field(entity_ts).type):
        raise SchemaMismatchError(entity_ts, "timestamp", str(schema.field(entity_ts).type))
    for reserved in (_RN, _TS):
        if reserved in schema.names:
            raise SchemaMismatchError(
                reserved, "no such column", "a column", "the name is reserved"
            )

    def extend(batch: pa.RecordBatch | pa.Table, start: int) -> Any:
        n = batch.num_rows
        batch = batch.append_column(_RN, pa.array(np.arange(start, start + n, dtype=np.int64)))
        return batch.append_column(_TS, to_utc_us(batch.column(entity_ts)))

    if isinstance(entities, pa.Table):
        return extend(entities, 0)  # type: ignore[no-any-return]

    first = extend(pa.RecordBatch.from_pylist([], schema=schema), 0)

    def gen() -> Iterator[pa.RecordBatch]:
        start = 0
        for b in entities:
            yield extend(b, start)
            start += b.num_rows

    return pa.RecordBatchReader.from_batches(first.schema, gen())


def _check_columns(schema: pa.Schema, needed: Sequence[str], what: str) -> None:
    for c in needed:
        if c not in schema.names:
            raise SchemaMismatchError(
                c, f"a column of the {what}", "no such column", f"available: {schema.names}"
            )


class Engine:
    """Reads Parquet files with DuckDB: point-in-time joins, aggregates, SQL.

    ``filesystem``: the fsspec filesystem that reads files given as URLs (a repository
    on S3: ``Repository.filesystem``); local paths need none.
    """

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | os.PathLike[str] | None = None,
        filesystem: fsspec.AbstractFileSystem | None = None,
    ) -> None:
        self._con = duckdb.connect(":memory:")
        self._fs = filesystem
        _fs.register(self._con, filesystem)
        self._lock = threading.Lock()
        self._sql_settings = (threads, memory_limit, temp_directory)
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET preserve_insertion_order = false")
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self._con.execute(f"SET memory_limit = '{memory_limit}'")
        tmp = os.fspath(temp_directory) if temp_directory else tempfile.gettempdir()
        self._con.execute(f"SET temp_directory = '{os.path.join(tmp, 'offline-duckdb')}'")

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new DuckDB cursor on this engine's database (one per thread or call)."""
        with self._lock:
            cur = self._con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    # -- point-in-time join ------------------------------------------------------------

    def as_of_join(
        self,
        entities: Entities,
        entity_ts: str,
        specs: Sequence[AsOfSpec],
        method: Literal["auto", "duckdb", "polars"] = "auto",
    ) -> pa.RecordBatchReader:
        """Join each spec's latest row at or before each entity row's time.

        Every entity row is kept, duplicates too, in its order, with its extra
        columns; features are null where no row matches. ``auto`` joins an
        in-memory entity table with polars (fastest) and streams a reader, or a
        leak-free (``exclude_created_after``) join, through DuckDB with spilling.
        """
        ents = _with_row_numbers(entities, entity_ts)
        names = [n for n in ents.schema.names if n not in (_RN, _TS)]
        outputs: set[str] = set(names)
        for spec in specs:
            _check_columns(ents.schema, list(spec.keys), "entity rows")
            for out in spec.columns:
                if out in outputs:
                    raise QueryError(f"output column {out!r} appears twice; rename one")
                outputs.add(out)
        if method == "auto":
            in_memory = isinstance(ents, pa.Table)
            method = (
                "polars"
                if in_memory and not any(s.exclude_created_after for s in specs)
                else "duckdb"
            )
        if method == "polars":
            if any(s.exclude_created_after for s in specs):
                raise QueryError("exclude_created_after needs method='duckdb' or 'auto'")
            table = ents.read_all() if isinstance(ents, pa.RecordBatchReader) else ents
            try:
                out = polars_as_of_join(table, names, _TS, specs, self._fs)
            except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as e:
                corrupt = corrupt_table_error([f for s in specs for f in s.files], e, self._fs)
                if corrupt is not None:
                    raise corrupt from e
                raise QueryError(f"point-in-time join failed: {e}") from e
            return pa.RecordBatchReader.from_batches(out.schema, out.to_batches(_BATCH_ROWS))
        cur = self.cursor()
        cur.register("__fs_entities", ents)
        materialize = any(s.exclude_created_after for s in specs)
        if materialize:
            cur.execute("CREATE TEMP TABLE __fs_e AS SELECT * FROM __fs_entities")
            base = "__fs_e"
        else:
            base = "__fs_entities"
        ctes: list[str] = [
            f"e AS (SELECT *, {{'a': {ident(_TS)}, 'b': 'infinity'::TIMESTAMPTZ}} AS __fs_k "
            f"FROM {base})"
        ]
        joins: list[str] = []
        selects = [f"e.{ident(n)}" for n in names]
        for i, spec in enumerate(specs):
            f = f"f{i}"
            if not spec.files:
                selects += [f"NULL AS {ident(out)}" for out in spec.columns]
                continue
            key_cols = [f"{ident(tc)} AS __fs_j{j}" for j, tc in enumerate(spec.keys.values())]
            val_cols = [f"{ident(tc)} AS __fs_c{j}" for j, tc in enumerate(spec.columns.values())]
            created = (
                f"coalesce({_ts(spec.created_ts)}, '-infinity'::TIMESTAMPTZ)"
                if spec.created_ts
                else "'-infinity'::TIMESTAMPTZ"
            )
            ctes.append(
                f"{f} AS (SELECT {', '.join(key_cols + val_cols)}, "
                f"{_ts(spec.event_ts)} AS __fs_e, {created} AS __fs_cr "
                f"FROM {_source(spec.files)})"
            )
            on = [f"e.{ident(ec)} = {f}.__fs_j{j}" for j, ec in enumerate(spec.keys)]
            lower = (
                f"{f}.__fs_e >= e.{ident(_TS)} - to_microseconds({micros(spec.ttl)})"
                if spec.ttl is not None
                else None
            )
            if spec.exclude_created_after:
                m = f"m{i}"
                conds = [*on, f"{f}.__fs_e <= e.{ident(_TS)}", f"{f}.__fs_cr <= e.{ident(_TS)}"]
                if spec.created_ts:
                    # a row without a created time was not known at any t (Feast drops it)
                    conds.append(f"{f}.__fs_cr > '-infinity'::TIMESTAMPTZ")
                if lower:
                    conds.append(lower)
                packed = ", ".join(f"'c{j}': {f}.__fs_c{j}" for j in range(len(spec.columns)))
                ctes.append(
                    f"{m} AS (SELECT e.{ident(_RN)} AS __fs_rn, "
                    f"arg_max({{{packed}}}, {{'a': {f}.__fs_e, 'b': {f}.__fs_cr}}) AS __fs_s "
                    f"FROM {base} e JOIN {f} ON {' AND '.join(conds)} GROUP BY 1)"
                )
                joins.append(f"LEFT JOIN {m} ON e.{ident(_RN)} = {m}.__fs_rn")
                selects += [
                    f"{m}.__fs_s.c{j} AS {ident(out)}" for j, out in enumerate(spec.columns)
                ]
            else:
                ctes.append(f"{f}k AS (SELECT *, {{'a': __fs_e, 'b': __fs_cr}} AS __fs_k FROM {f})")
                cond = " AND ".join([*on, f"e.__fs_k >= {f}.__fs_k"])
                joins.append(f"ASOF LEFT JOIN {f}k {f} ON {cond}")
                for j, out in enumerate(spec.columns):
                    col = f"{f}.__fs_c{j}"
                    selects.append(
                        f"CASE WHEN {lower} THEN {col} END AS {ident(out)}"
                        if lower
                        else f"{col} AS {ident(out)}"
                    )
        query = (
            f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM e {' '.join(joins)} "
            f"ORDER BY e.{ident(_RN)}"
        )
        files = [f for s in specs for f in s.files]
        return _stream(cur, query, keep=ents, files=files, fs=self._fs)

    # -- windowed aggregates ------------------------------------------------------------

    def _agg_exprs(
        self, files: Sequence[str], aggs: Sequence[WindowAgg], created_ts: str | None, at: str
    ) -> list[str]:
        """SELECT expressions over CTE ``f`` (columns __fs_e, __fs_cr, table columns)."""
        try:
            schema = _fs.read_schema(files[0], self._fs)
        except (OSError, ValueError, pa.ArrowException) as e:
            raise corrupt_table_error(files[:1], e, self._fs) or QueryError(
                f"cannot read the table's schema: {e}"
            ) from e
        exprs = []
        for a in aggs:
            _check_columns(schema, [a.column], "table")
            col = f"f.{ident(a.column)}"
            filt = f"FILTER (WHERE f.__fs_e > {at} - to_microseconds({micros(a.window)}))"
            typ = schema.field(a.column).type
            if a.function == "count":
                expr = f"count({col}) {filt}"
            elif a.function == "sum":
                cast = "BIGINT" if pa.types.is_integer(typ) else "DOUBLE"
                expr = f"CAST(sum({col}) {filt} AS {cast})"
            elif a.function == "mean":
                expr = f"avg({col}) {filt}"
            elif a.function == "stddev":
                expr = f"stddev_samp({col}) {filt}"
            elif a.function == "last":
                order = "{'a': f.__fs_e, 'b': f.__fs_cr}" if created_ts else "f.__fs_e"
                expr = f"arg_max_null({col}, {order}) {filt}"
            else:
                expr = f"{a.function}({col}) {filt}"
            exprs.append(f"{expr} AS {ident(a.output)}")
        return exprs

    @staticmethod
    def _table_cte(files: Sequence[str], event_ts: str, created_ts: str | None) -> str:
        created = _ts(created_ts) if created_ts else "NULL::TIMESTAMPTZ"
        return (
            f"f AS (SELECT *, {_ts(event_ts)} AS __fs_e, {created} AS __fs_cr "
            f"FROM {_source(files)})"
        )

    def window_aggregate(
        self, entities: Entities, entity_ts: str, spec: WindowSpec
    ) -> pa.RecordBatchReader:
        """Aggregate each entity's rows with ``t - window < e <= t``, per entity row.

        Counts over an empty window are 0; the other aggregates are null.
        """
        ents = _with_row_numbers(entities, entity_ts)
        _check_columns(ents.schema, list(spec.keys), "entity rows")
        names = [n for n in ents.schema.names if n not in (_RN, _TS)]
        cur = self.cursor()
        cur.register("__fs_entities", ents)
        if not spec.files:
            selects = [f"e.{ident(n)}" for n in names] + [
                f"{'0' if a.function == 'count' else 'NULL'} AS {ident(a.output)}"
                for a in spec.aggregations
            ]
            query = f"SELECT {', '.join(selects)} FROM __fs_entities e ORDER BY e.{ident(_RN)}"
            return _stream(cur, query, keep=ents)
        cur.execute("CREATE TEMP TABLE __fs_e AS SELECT * FROM __fs_entities")
        widest = max(micros(a.window) for a in spec.aggregations)
        t = f"e.{ident(_TS)}"
        exprs = self._agg_exprs(spec.files, spec.aggregations, spec.created_ts, t)
        on = " AND ".join(f"e.{ident(ec)} = f.{ident(tc)}" for ec, tc in spec.keys.items())
        selects = [f"e.{ident(n)}" for n in names] + [
            f"coalesce(a.{ident(x.output)}, 0) AS {ident(x.output)}"
            if x.function == "count"
            else f"a.{ident(x.output)}"
            for x in spec.aggregations
        ]
        query = (
            f"WITH {self._table_cte(spec.files, spec.event_ts, spec.created_ts)}, "
            f"a AS (SELECT e.{ident(_RN)} AS __fs_rn, {', '.join(exprs)} FROM __fs_e e "
            f"JOIN f ON {on} AND f.__fs_e <= {t} AND f.__fs_e > {t} - to_microseconds({widest}) "
            f"GROUP BY 1) "
            f"SELECT {', '.join(selects)} FROM __fs_e e LEFT JOIN a ON e.{ident(_RN)} = a.__fs_rn "
            f"ORDER BY e.{ident(_RN)}"
        )
        return _stream(cur, query, keep=ents, files=spec.files, fs=self._fs)

    def window_aggregate_at(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        aggregations: Sequence[WindowAgg],
        at: datetime,
        created_ts: str | None = None,
    ) -> pa.RecordBatchReader:
        """Each key's aggregates as of one time ``at`` (keys with a row in the widest window)."""
        if not files:
            raise QueryError("window_aggregate_at needs at least one file")
        if not aggregations:
            raise QueryError("window_aggregate_at needs at least one aggregation")
        at_sql = ts_literal(utc_datetime(at))
        widest = max(micros(a.window) for a in aggregations)
        exprs = self._agg_exprs(files, aggregations, created_ts, at_sql)
        k = ", ".join(f"f.{ident(c)}" for c in keys)
        query = (
            f"WITH {self._table_cte(files, event_ts, created_ts)} "
            f"SELECT {k}, {', '.join(exprs)} FROM f "
            f"WHERE f.__fs_e <= {at_sql} AND f.__fs_e > {at_sql} - to_microseconds({widest}) "
            f"GROUP BY {k} ORDER BY {k}"
        )
        return _stream(self.cursor(), query, files=files, fs=self._fs)

    def window_events(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        columns: Sequence[str],
        start: datetime,
        end: datetime,
        created_ts: str | None = None,
    ) -> pa.RecordBatchReader:
        """The raw rows with ``start < e <= end``: what windows ending by ``end`` can read.

        Columns: the keys, ``__ts`` and ``__created`` (timestamp[us, UTC]; ``__created``
        null without a created column), then ``columns``; ordered by key and time.
        """
        if not files:
            raise QueryError("window_events needs at least one file")
        created = _ts(created_ts) if created_ts else "NULL::TIMESTAMPTZ"
        sel = [ident(k) for k in keys]
        sel += [f"{_ts(event_ts)} AS __ts", f"{created} AS __created"]
        sel += [ident(c) for c in dict.fromkeys(columns)]
        order = [*(ident(k) for k in keys), "__ts"]
        query = (
            f"SELECT {', '.join(sel)} FROM {_source(files)} "
            f"WHERE {_ts(event_ts)} > {ts_literal(utc_datetime(start))} "
            f"AND {_ts(event_ts)} <= {ts_literal(utc_datetime(end))} "
            f"ORDER BY {', '.join(order)}"
        )
        return _stream(self.cursor(), query, files=files, fs=self._fs)

    # -- latest rows --------------------------------------------------------------------

    def latest(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        created_ts: str | None,
        columns: Sequence[str] | Mapping[str, str],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.RecordBatchReader:
        """The latest row per key with ``start <= e <= end`` (ties: greatest created time).

        Columns: the keys, the requested columns (``output -> column`` or names),
        then ``event_ts`` and ``created_ts`` as timestamp[us, UTC].
        """
        if not files:
            raise QueryError("latest needs at least one file")
        cols = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
        conds = ["TRUE"]
        if start is not None:
            conds.append(f"{_ts(event_ts)} >= {ts_literal(utc_datetime(start))}")
        if end is not None:
            conds.append(f"{_ts(event_ts)} <= {ts_literal(utc_datetime(end))}")
        order = [f"{_ts(event_ts)} DESC"]
        extra = [f"{_ts(event_ts)} AS {ident(event_ts)}"]
        if created_ts:
            order.append(f"{_ts(created_ts)} DESC NULLS LAST")
            extra.append(f"{_ts(created_ts)} AS {ident(created_ts)}")
        sel = [ident(k) for k in keys]
        sel += [f"{ident(src)} AS {ident(out)}" for out, src in cols.items()]
        # no keys: one global row per time, the latest of all rows wins
        partition = f"PARTITION BY {', '.join(ident(k) for k in keys)} " if keys else ""
        query = (
            f"SELECT {', '.join(sel + extra)} FROM {_source(files)} "
            f"WHERE {' AND '.join(conds)} "
            f"QUALIFY row_number() OVER ({partition}ORDER BY {', '.join(order)}) = 1"
        )
        return _stream(self.cursor(), query, files=files, fs=self._fs)

    # -- sorted scans and per-partition functions ----------------------------------------

    def sorted_rows(self, files: Sequence[str], order: Sequence[str]) -> pa.RecordBatchReader:
        """Every row of ``files`` ordered by ``order`` (compaction's read)."""
        if not files:
            raise QueryError("sorted_rows needs at least one file")
        order_sql = f" ORDER BY {', '.join(ident(c) for c in order)}" if order else ""
        query = f"SELECT * FROM {_source(files)}{order_sql}"
        return _stream(self.cursor(), query, files=files, fs=self._fs)

    def map_rows(
        self, query: RowQuery, fn: PartitionFn, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """Run ``fn`` over the query's rows in this process (one partition: all of them)."""
        for batch in fn(iter(query_rows(self, query))):
            yield batch.cast(schema) if batch.schema != schema else batch

    # -- SQL ----------------------------------------------------------------------------

    def sql(
        self,
        query: str,
        tables: Mapping[str, Sequence[str]],
        schemas: Mapping[str, pa.Schema] | None = None,
    ) -> pa.Table:
        """Run one read-only SELECT with each name in ``tables`` bound to its files.

        A table with no files reads as an empty table with its columns from
        ``schemas`` (a table with a schema but no rows yet, or none left); without a
        schema it is not bound. The query runs in a sandbox of its own: a fresh DuckDB
        database whose only readable files are the tables' files, with external access
        off and the configuration locked, so it cannot read other files, write any,
        attach databases, load extensions, scan Python variables or undo the sandbox.
        """
        check_select(query)
        con = self._sandbox(tables, schemas or {})
        try:
            return con.sql(query).to_arrow_table()
        except duckdb.Error as e:
            raise corrupt_table_error(tables, e, self._fs) or _query_error(e, tables) from e
        finally:
            con.close()

    def _sandbox(
        self, tables: Mapping[str, Sequence[str]], schemas: Mapping[str, pa.Schema]
    ) -> duckdb.DuckDBPyConnection:
        """A new in-memory database with a view per table that sees nothing else."""
        threads, memory_limit, temp_directory = self._sql_settings
        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "python_enable_replacements": False,
        }
        if threads is not None:
            config["threads"] = int(threads)
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        con = duckdb.connect(":memory:", config=config)
        try:
            _fs.register(con, self._fs)
            tmp = os.fspath(temp_directory) if temp_directory else tempfile.gettempdir()
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET temp_directory = {literal(os.path.join(tmp, 'offline-duckdb'))}")
            allowed = sorted({f for files in tables.values() for f in files})
            con.execute(f"SET allowed_paths = {literal_list(allowed)}")
            for name, files in tables.items():
                if files:
                    con.execute(f"CREATE TEMP VIEW {ident(name)} AS SELECT * FROM {_source(files)}")
                elif name in schemas:
                    _bind_empty(con, name, schemas[name])
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except duckdb.Error as e:
            con.close()
            corrupt = corrupt_table_error(tables, e, self._fs)
            if corrupt is not None:
                raise corrupt from e
            raise QueryError(f"cannot prepare the tables for the query: {e}") from e
        except BaseException:
            con.close()
            raise
        return con


_EMPTY = "__fs_empty"
_MAX_NAMED = 20
_MISSING = re.compile(r"Table with name (\S+) does not exist")


def _bind_empty(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    """Bind ``name`` to an empty table with ``schema``'s columns (a table with no rows)."""
    con.register(_EMPTY, schema.empty_table())
    try:
        con.execute(f"CREATE TEMP TABLE {ident(name)} AS SELECT * FROM {_EMPTY}")
    finally:
        con.unregister(_EMPTY)


def _table_names(tables: Mapping[str, Sequence[str]]) -> str:
    names = sorted(tables)
    shown = ", ".join(names[:_MAX_NAMED]) or "none"
    return shown + (f" and {len(names) - _MAX_NAMED} more" if len(names) > _MAX_NAMED else "")


def _query_error(e: duckdb.Error, tables: Mapping[str, Sequence[str]]) -> QueryError:
    """A failed user query as a ``QueryError``; a sandbox refusal says what SQL may read."""
    text = str(e)
    missing = _MISSING.search(text) if isinstance(e, duckdb.CatalogException) else None
    if missing is not None:
        return QueryError(
            f"query failed: no table named {missing.group(1)} at this ref "
            f"(its tables: {_table_names(tables)})"
        )
    refused = isinstance(e, duckdb.PermissionException) or "configuration has been locked" in text
    if not refused:
        return QueryError(f"query failed: {text}")
    names = _table_names(tables)
    return QueryError(
        "query refused: SQL reads only the tables of the ref (here: "
        f"{names}); it cannot read or write other files, attach databases, load extensions "
        f"or change settings. Name a table instead ({text.splitlines()[0]})"
    )


def check_select(query: str) -> None:
    """Refuse anything but exactly one SELECT (or WITH ... SELECT) statement."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise QueryError(f"cannot parse query: {e}") from e
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, found {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError(
            f"only SELECT queries are allowed (read-only), found {statements[0].type.name}"
        )
