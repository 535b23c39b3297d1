"""Spark engine: DuckDB's exact semantics on a Spark cluster (``pip install 'featurestore[spark]'``).

Spark reads the commit's Parquet objects as an explicit file list (the repository's
objects are extensionless content-addressed files; a listed file is read whatever its
name): local paths with Spark's own reader, objects of the repository's fsspec
filesystem (``s3://``) through the Python workers (``offline._spark_read``), so no
Hadoop S3 jars are needed. The session starts on the first query that needs it, quiet
(log level ERROR, no console progress) unless ``conf`` says otherwise.

Every time is compared as UTC microseconds since the epoch (``unix_micros``), so naive
and zoned timestamps agree with DuckDB, and results are cast back to the types DuckDB
returns: integers stay integers, times are ``timestamp[us, UTC]``.

Point-in-time joins run in one of two ways:

- ``bucketed`` (default): entity rows and feature rows are unioned, bucketed by key
  (``PARTITION BY`` the join keys) and sorted by (time, feature-before-entity, created
  time); each entity row takes the last feature row before it. One shuffle, no row
  multiplication, whatever the ttl.
- ``range``: a join on key and ``t - ttl <= e <= t``, then the greatest (e, created)
  per entity row; its cost grows with the rows each entity row sees. Leak-free joins
  (``exclude_created_after``) always take it.

``sql`` runs in DuckDB's sandbox (Spark SQL cannot be confined to the tables' files).
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from offline import _fs
from offline._compute import LatestRows, PartitionFn, RowQuery
from offline._engine import Engine, Entities, _check_columns, _with_row_numbers, corrupt_table_error
from offline._errors import OfflineError, QueryError
from offline._spark_read import check_readable, read_objects
from offline._specs import AsOfSpec, WindowAgg, WindowSpec
from offline._time import micros, utc_datetime

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SparkEngine"]

JoinMethod = Literal["bucketed", "range"]

_RN = "__fs_rn"
_TS = "__fs_ts"
_T = "__fs_t"
_CR = "__fs_cr"
_KIND = "__fs_kind"
_V = "__fs_v"
_M = "__fs_m"
_MIN = -(2**63)
_BATCH_ROWS = 128 * 1024
_UTC_US = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMAS = 4096
"""Object schemas kept per engine (each read costs a request on object storage)."""
_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
}
"""Settings of a session the engine starts, unless ``conf`` sets them otherwise."""


def _spark_modules() -> Any:
    try:
        import pyspark.sql.functions as sf
        from pyspark.sql import SparkSession, Window
    except ImportError as e:
        raise OfflineError(
            "the Spark engine needs pyspark: pip install 'featurestore[spark]' (and Java 17; "
            "set JAVA_HOME if `java` is not on PATH)"
        ) from e
    return SparkSession, Window, sf


def _java_home() -> None:
    """Point JAVA_HOME at the ``java`` on PATH when it is unset (Spark's launcher wants it)."""
    if os.environ.get("JAVA_HOME"):
        return
    java = shutil.which("java")
    if java is None:
        raise OfflineError(
            "the Spark engine needs Java 17: install it (apt-get install openjdk-17-jre) "
            "or set JAVA_HOME"
        )
    os.environ["JAVA_HOME"] = str(Path(java).resolve().parent.parent)


def _session_settings(
    app_name: str, shuffle_partitions: int | None, conf: Mapping[str, str] | None
) -> dict[str, str]:
    """What the engine's session is built with: quiet defaults, then the user's ``conf``."""
    settings = {"spark.app.name": app_name, **_DEFAULTS}
    settings["spark.sql.session.timeZone"] = "UTC"
    settings["spark.sql.execution.arrow.pyspark.enabled"] = "true"
    if shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    settings.update({k: str(v) for k, v in (conf or {}).items()})
    return settings


def _session_defaults(session: SparkSession) -> None:
    """The settings every query of the engine relies on, whoever started the session."""
    session.conf.set("spark.sql.session.timeZone", "UTC")
    # nanosecond timestamps (pandas writes them) read as longs; _micros converts them
    session.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")


@dataclass(frozen=True)
class _Conform:
    """Casts a batch from Spark's types (times as microseconds) to DuckDB's result types."""

    schema: pa.Schema

    def table(self, t: pa.Table) -> pa.Table:
        cols = [_cast(t.column(i), f.type) for i, f in enumerate(self.schema)]
        return pa.Table.from_arrays(cols, schema=self.schema)

    def batch(self, b: pa.RecordBatch) -> pa.RecordBatch:
        cols = [_cast(b.column(i), f.type) for i, f in enumerate(self.schema)]
        return pa.RecordBatch.from_arrays(cols, schema=self.schema)


def _cast(arr: Any, to: pa.DataType) -> Any:
    if arr.type == to:
        return arr
    return arr.cast(to)


@dataclass(frozen=True)
class _OnExecutor:
    """A partition function run by ``mapInArrow``: conform the rows, call ``fn``, cast out."""

    fn: PartitionFn
    rows: _Conform
    out: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in self.fn(self.rows.batch(x) for x in batches):
            yield b.cast(self.out) if b.schema != self.out else b


_DDL = {
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.int16(): "smallint",
    pa.int8(): "tinyint",
    pa.float64(): "double",
    pa.float32(): "float",
    pa.bool_(): "boolean",
    pa.string(): "string",
    pa.large_string(): "string",
    pa.binary(): "binary",
}


def _ddl(schema: pa.Schema) -> str:
    parts = []
    for f in schema:
        if f.type not in _DDL:
            raise QueryError(
                f"map_rows output column {f.name!r} has type {f.type}; Spark takes "
                f"{sorted(str(t) for t in _DDL)}"
            )
        parts.append(f"`{f.name}` {_DDL[f.type]}")
    return ", ".join(parts)


def _agg_type(a: WindowAgg, schema: pa.Schema) -> pa.DataType:
    typ = schema.field(a.column).type
    if a.function == "count":
        return pa.int64()
    if a.function == "sum":
        return pa.int64() if pa.types.is_integer(typ) else pa.float64()
    if a.function in ("mean", "stddev"):
        return pa.float64()
    return _result_type(typ)


def _result_type(typ: pa.DataType) -> pa.DataType:
    """The type DuckDB returns for a stored column of type ``typ``."""
    if pa.types.is_timestamp(typ):
        unit = "ns" if typ.unit == "ns" else "us"
        return pa.timestamp(unit, tz="UTC") if typ.tz else pa.timestamp(unit)
    if pa.types.is_large_string(typ):
        return pa.string()
    return typ


class SparkEngine:
    """Runs the engine's reads on Spark: ``master`` such as ``local[*]`` or a cluster URL.

    ``session`` uses a Spark session that already runs (the engine then never stops it);
    otherwise one is started from ``master``, ``app_name`` and ``conf`` on first use and
    stopped by ``close``. ``join`` picks the point-in-time join (``bucketed`` or
    ``range``). ``filesystem``: the fsspec filesystem of files given as URLs (a
    repository on S3: ``Repository.filesystem``); it must pickle, as executors rebuild it.
    """

    def __init__(
        self,
        master: str = "local[*]",
        app_name: str = "featurestore",
        conf: Mapping[str, str] | None = None,
        shuffle_partitions: int | None = None,
        join: JoinMethod = "bucketed",
        session: SparkSession | None = None,
        filesystem: fsspec.AbstractFileSystem | None = None,
    ) -> None:
        if join not in ("bucketed", "range"):
            raise OfflineError(f"unknown join method {join!r}; use 'bucketed' or 'range'")
        check_readable(filesystem)
        self._builder_cls, window, sf = _spark_modules()
        self._window = window
        self._f = sf
        self.join: JoinMethod = join
        self._fs = filesystem
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._cached: tuple[RowQuery, DataFrame] | None = None
        self._duckdb: Engine | None = None
        self._schemas: dict[str, pa.Schema] = {}
        self._master = master
        self._settings = _session_settings(app_name, shuffle_partitions, conf)
        if session is None:
            _java_home()
        self._session = session
        self._owns = False
        if session is not None:
            _session_defaults(session)

    @property
    def spark(self) -> SparkSession:
        """The Spark session, started on first use: a store that only looks up, reads its
        registry or runs ``sql`` (DuckDB's sandbox) never starts a JVM."""
        with self._start_lock:
            if self._session is None:
                self._session = self._start()
            return self._session

    @property
    def started(self) -> bool:
        """Whether this engine has a Spark session yet (given, or started on first use)."""
        return self._session is not None

    def _start(self) -> SparkSession:
        builder = self._builder_cls.builder.master(self._master)
        for k, v in self._settings.items():
            builder = builder.config(k, v)
        from pyspark import SparkContext

        owns = SparkContext._active_spark_context is None  # else getOrCreate shares it
        try:
            session: SparkSession = builder.getOrCreate()
        except Exception as e:
            raise OfflineError(
                f"cannot start Spark at {self._master!r}: {_first_line(e)}. "
                "Check the master URL and that Java 17 runs (JAVA_HOME)"
            ) from e
        self._owns = owns
        _session_defaults(session)
        return session

    def close(self) -> None:
        """Drop cached rows, close the SQL engine and stop the session if this engine started it."""
        with self._lock:
            if self._cached is not None:
                self._cached[1].unpersist()
                self._cached = None
            if self._duckdb is not None:
                self._duckdb.close()
                self._duckdb = None
        with self._start_lock:
            if self._owns and self._session is not None:
                self._session.stop()
                self._session = None
            self._owns = False

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------

    def _schema(self, files: Sequence[str]) -> pa.Schema:
        path = files[0]
        try:
            if _fs.is_url(path):
                # objects are content-addressed: an address always holds the same bytes
                found = self._schemas.get(path)
                if found is None:
                    found = _fs.read_schema(path, self._fs)
                    if len(self._schemas) >= _SCHEMAS:
                        self._schemas.clear()
                    self._schemas[path] = found
                return found
            if "://" in path:
                return pq.read_schema(path)
            st = os.stat(path)
            return _file_schema(path, st.st_mtime_ns, st.st_size)
        except (OSError, ValueError, pa.ArrowException) as e:
            raise corrupt_table_error(files[:1], e, self._fs) or QueryError(
                f"cannot read the table's schema: {e}"
            ) from e

    def _read(self, files: Sequence[str], columns: Sequence[str] | None = None) -> DataFrame:
        """The rows of ``files``: Spark's reader for local paths; the Python workers
        (``offline._spark_read``) for objects of the repository's filesystem. ``columns``:
        the columns the query needs (the workers read only those)."""
        if not any(_fs.is_url(p) for p in files):
            return self.spark.read.parquet(*files)
        if self._fs is None:
            raise QueryError(
                f"the Spark engine was given object URLs ({files[0]}) but no filesystem to "
                "read them: open it with the repository's filesystem (Repository.filesystem)"
            )
        return read_objects(self.spark, files, self._fs, self._schema(files), columns)

    def _types(self, files: Sequence[str], columns: Iterable[str]) -> dict[str, Any]:
        """Spark's types of ``columns`` as ``files`` are read (entity keys are cast to them)."""
        cols = list(dict.fromkeys(columns))
        return {fld.name: fld.dataType for fld in self._read(files, cols).schema.fields}

    def _micros(self, column: str, files: Sequence[str]) -> Column:
        """``column`` as UTC microseconds since the epoch (nanosecond columns truncated)."""
        f = self._f
        typ = self._schema(files).field(column).type
        if pa.types.is_timestamp(typ) and typ.unit == "ns":  # read as long (nanosAsLong)
            nanos: Column = f.expr(f"`{column}` div 1000")
            return nanos
        us: Column = f.unix_micros(f.col(f"`{column}`").cast("timestamp"))
        return us

    def _collect(self, df: DataFrame, files: Sequence[str]) -> pa.Table:
        """Run ``df`` and bring its rows here as Arrow (damaged files named as DuckDB does)."""
        try:
            return df.toArrow()
        except Exception as e:
            corrupt = corrupt_table_error(list(files), e, self._fs)
            if corrupt is not None:
                raise corrupt from e
            raise QueryError(f"Spark query failed: {_first_line(e)}") from e

    def _entities(self, ents: pa.Table, key_cols: Sequence[str]) -> DataFrame:
        cols = {_RN: ents.column(_RN), _TS: pc.cast(ents.column(_TS), pa.int64())}
        for c in dict.fromkeys(key_cols):
            col = ents.column(c)
            if pa.types.is_large_string(col.type) or pa.types.is_dictionary(col.type):
                col = col.cast(pa.string())
            cols[c] = col
        return self.spark.createDataFrame(pa.table(cols))

    # -- point-in-time join ------------------------------------------------------------

    def as_of_join(
        self,
        entities: Entities,
        entity_ts: str,
        specs: Sequence[AsOfSpec],
        method: JoinMethod | None = None,
    ) -> pa.RecordBatchReader:
        """Join each spec's latest row at or before each entity row's time (DuckDB's
        semantics; see ``Engine.as_of_join``)."""
        ents = _with_row_numbers(entities, entity_ts)
        table = ents.read_all() if isinstance(ents, pa.RecordBatchReader) else ents
        names = [n for n in table.schema.names if n not in (_RN, _TS)]
        outputs: set[str] = set(names)
        for spec in specs:
            _check_columns(table.schema, list(spec.keys), "entity rows")
            for out in spec.columns:
                if out in outputs:
                    raise QueryError(f"output column {out!r} appears twice; rename one")
                outputs.add(out)
        n = table.num_rows
        result = table.select(names)
        edf = self._entities(table, [k for s in specs for k in s.keys]) if n else None
        for spec in specs:
            if not spec.files or edf is None:
                schema = self._schema(spec.files) if spec.files else None
                for out, col in spec.columns.items():
                    typ = _result_type(schema.field(col).type) if schema else pa.null()
                    result = result.append_column(out, pa.nulls(n, typ))
                continue
            schema = self._schema(spec.files)
            _check_columns(
                schema, [*spec.keys.values(), *spec.columns.values(), spec.event_ts], "table"
            )
            use = "range" if spec.exclude_created_after else (method or self.join)
            df = self._as_of_one(edf, spec, use)
            target = pa.schema(
                [(_RN, pa.int64())]
                + [(out, _result_type(schema.field(c).type)) for out, c in spec.columns.items()]
            )
            got = _by_row(_Conform(target).table(self._collect(df, spec.files)))
            if got.num_rows != n:
                raise QueryError(f"point-in-time join returned {got.num_rows} rows for {n}")
            for out in spec.columns:
                result = result.append_column(out, got.column(out))
        return pa.RecordBatchReader.from_batches(result.schema, result.to_batches(_BATCH_ROWS))

    def _feature_rows(self, spec: AsOfSpec, schema: pa.Schema) -> DataFrame:
        f = self._f
        keys = [f.col(f"`{tc}`").alias(f"__fs_j{j}") for j, tc in enumerate(spec.keys.values())]
        t = self._micros(spec.event_ts, spec.files)
        cr = (
            f.coalesce(self._micros(spec.created_ts, spec.files), f.lit(_MIN))
            if spec.created_ts
            else f.lit(_MIN)
        )
        value = f.struct(
            t.alias("e"),
            *[f.col(f"`{c}`").alias(f"c{j}") for j, c in enumerate(spec.columns.values())],
        )
        needed = [*spec.keys.values(), spec.event_ts, *spec.columns.values()]
        if spec.created_ts:
            needed.append(spec.created_ts)
        df = self._read(spec.files, needed).select(
            *keys, t.alias(_T), cr.alias(_CR), value.alias(_V)
        )
        cond = f.col(_T).isNotNull()
        for j in range(len(spec.keys)):
            cond = cond & f.col(f"__fs_j{j}").isNotNull()
        return df.where(cond)

    def _entity_keys(self, edf: DataFrame, spec: AsOfSpec, schema: pa.Schema) -> DataFrame:
        f = self._f
        ftypes = self._types(spec.files, spec.keys.values())
        cols = [f.col(_RN), f.col(_TS)]
        for j, (ec, tc) in enumerate(spec.keys.items()):
            cols.append(f.col(f"`{ec}`").cast(ftypes[tc]).alias(f"__fs_j{j}"))
        return edf.select(*cols)

    def _as_of_one(self, edf: DataFrame, spec: AsOfSpec, method: JoinMethod) -> DataFrame:
        f = self._f
        schema = self._schema(spec.files)
        feats = self._feature_rows(spec, schema)
        ents = self._entity_keys(edf, spec, schema)
        jcols = [f"__fs_j{j}" for j in range(len(spec.keys))]
        if method == "bucketed":
            left = ents.select(
                f.col(_RN),
                f.col(_TS),
                *jcols,
                f.col(_TS).alias(_T),
                f.lit(1).alias(_KIND),
                f.lit(_MIN).alias(_CR),
            )
            right = feats.select(*jcols, _T, _CR, _V, f.lit(0).alias(_KIND))
            both = left.unionByName(right, allowMissingColumns=True)
            w = self._window.partitionBy(*jcols) if jcols else self._window
            w = w.orderBy(_T, _KIND, _CR).rowsBetween(
                self._window.unboundedPreceding, self._window.currentRow
            )
            matched = both.select(
                _RN, _TS, _KIND, f.last(_V, ignorenulls=True).over(w).alias(_M)
            ).where(f.col(_KIND) == 1)
        else:
            e, r = ents.alias("e"), feats.alias("f")
            cond = f.col(f"f.{_T}") <= f.col(f"e.{_TS}")
            for j in jcols:
                cond = cond & (f.col(f"e.{j}") == f.col(f"f.{j}"))
            if spec.ttl is not None:
                cond = cond & (f.col(f"f.{_T}") >= f.col(f"e.{_TS}") - f.lit(micros(spec.ttl)))
            if spec.exclude_created_after:
                cond = cond & (f.col(f"f.{_CR}") <= f.col(f"e.{_TS}"))
                cond = cond & (f.col(f"f.{_CR}") > f.lit(_MIN))
            best = (
                e.join(r, cond)
                .groupBy(f.col(f"e.{_RN}").alias(_RN))
                .agg(f.max_by(f.col(f"f.{_V}"), f.struct(f"f.{_T}", f"f.{_CR}")).alias(_M))
            )
            matched = ents.select(_RN, _TS).join(best, _RN, "left")
        outs = []
        for i, out in enumerate(spec.columns):
            v = f.col(_M).getField(f"c{i}")
            if spec.ttl is not None:
                v = f.when(f.col(_M).getField("e") >= f.col(_TS) - f.lit(micros(spec.ttl)), v)
            outs.append(v.alias(out))
        return matched.select(_RN, *outs)

    # -- windowed aggregates ------------------------------------------------------------

    def _agg_columns(
        self, aggs: Sequence[WindowAgg], created_ts: str | None, at: Column
    ) -> list[Column]:
        f = self._f
        out = []
        for a in aggs:
            inside = f.col(_T) > at - f.lit(micros(a.window))
            v = f.when(inside, f.col(f"`{a.column}`"))
            if a.function == "count":
                expr = f.count(v)
            elif a.function == "sum":
                expr = f.sum(v)
            elif a.function == "mean":
                expr = f.avg(v)
            elif a.function == "stddev":
                expr = f.stddev_samp(v)
            elif a.function == "min":
                expr = f.min(v)
            elif a.function == "max":
                expr = f.max(v)
            else:
                order = f.struct(_T, _CR) if created_ts else f.col(_T)
                expr = f.max_by(v, f.when(inside, order))
            out.append(expr.alias(a.output))
        return out

    def _table_rows(
        self,
        files: Sequence[str],
        event_ts: str,
        created_ts: str | None,
        columns: Sequence[str],
    ) -> DataFrame:
        """``columns`` of ``files`` with the event time ``_T`` and created time ``_CR``."""
        f = self._f
        cr = f.coalesce(self._micros(created_ts, files), f.lit(_MIN)) if created_ts else f.lit(_MIN)
        needed = [*columns, event_ts, *([created_ts] if created_ts else [])]
        rows = self._read(files, needed)
        return rows.select("*", self._micros(event_ts, files).alias(_T), cr.alias(_CR))

    def window_aggregate(
        self, entities: Entities, entity_ts: str, spec: WindowSpec
    ) -> pa.RecordBatchReader:
        """Aggregate each entity's rows with ``t - window < e <= t``, per entity row."""
        ents = _with_row_numbers(entities, entity_ts)
        table = ents.read_all() if isinstance(ents, pa.RecordBatchReader) else ents
        _check_columns(table.schema, list(spec.keys), "entity rows")
        names = [n for n in table.schema.names if n not in (_RN, _TS)]
        n = table.num_rows
        result = table.select(names)
        if not spec.files or n == 0:
            schema = self._schema(spec.files) if spec.files else None
            for a in spec.aggregations:
                if a.function == "count":
                    result = result.append_column(a.output, pa.array([0] * n, pa.int64()))
                else:
                    typ = _agg_type(a, schema) if schema else pa.null()
                    result = result.append_column(a.output, pa.nulls(n, typ))
            return pa.RecordBatchReader.from_batches(result.schema, result.to_batches(_BATCH_ROWS))
        f = self._f
        schema = self._schema(spec.files)
        _check_columns(
            schema, [*spec.keys.values(), *(a.column for a in spec.aggregations)], "table"
        )
        edf = self._entities(table, list(spec.keys))
        ftypes = self._types(spec.files, spec.keys.values())
        e = edf.select(
            _RN,
            _TS,
            *[
                f.col(f"`{ec}`").cast(ftypes[tc]).alias(f"__fs_j{j}")
                for j, (ec, tc) in enumerate(spec.keys.items())
            ],
        ).alias("e")
        agg_cols = list(dict.fromkeys(a.column for a in spec.aggregations))
        rows = self._table_rows(
            spec.files, spec.event_ts, spec.created_ts, [*agg_cols, *spec.keys.values()]
        )
        rows = rows.select(
            _T,
            _CR,
            *[f.col(f"`{c}`") for c in dict.fromkeys(a.column for a in spec.aggregations)],
            *[f.col(f"`{tc}`").alias(f"__fs_j{j}") for j, tc in enumerate(spec.keys.values())],
        ).alias("f")
        widest = max(micros(a.window) for a in spec.aggregations)
        cond = (f.col(f"f.{_T}") <= f.col(f"e.{_TS}")) & (
            f.col(f"f.{_T}") > f.col(f"e.{_TS}") - f.lit(widest)
        )
        for j in range(len(spec.keys)):
            cond = cond & (f.col(f"e.__fs_j{j}") == f.col(f"f.__fs_j{j}"))
        joined = e.join(rows, cond).select(
            f.col(f"e.{_RN}").alias(_RN),
            f.col(f"e.{_TS}").alias(_TS),
            f"f.{_T}",
            f"f.{_CR}",
            *[f.col(f"f.`{c}`") for c in dict.fromkeys(a.column for a in spec.aggregations)],
        )
        aggs = joined.groupBy(_RN, _TS).agg(
            *self._agg_columns(spec.aggregations, spec.created_ts, f.col(_TS))
        )
        outs = [
            f.coalesce(f.col(a.output), f.lit(0)).alias(a.output)
            if a.function == "count"
            else f.col(a.output)
            for a in spec.aggregations
        ]
        df = edf.select(_RN).join(aggs.drop(_TS), _RN, "left").select(_RN, *outs)
        target = pa.schema(
            [(_RN, pa.int64())] + [(a.output, _agg_type(a, schema)) for a in spec.aggregations]
        )
        got = _by_row(_Conform(target).table(self._collect(df, spec.files)))
        for a in spec.aggregations:
            result = result.append_column(a.output, got.column(a.output))
        return pa.RecordBatchReader.from_batches(result.schema, result.to_batches(_BATCH_ROWS))

    def _window_at(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        aggregations: Sequence[WindowAgg],
        at: datetime,
        created_ts: str | None,
    ) -> tuple[DataFrame, pa.Schema]:
        if not files:
            raise QueryError("window_aggregate_at needs at least one file")
        if not aggregations:
            raise QueryError("window_aggregate_at needs at least one aggregation")
        f = self._f
        schema = self._schema(files)
        _check_columns(schema, [*keys, *(a.column for a in aggregations)], "table")
        at_us = _epoch_us(at)
        widest = max(micros(a.window) for a in aggregations)
        needed = [*keys, *(a.column for a in aggregations)]
        rows = self._table_rows(files, event_ts, created_ts, needed).where(
            (f.col(_T) <= f.lit(at_us)) & (f.col(_T) > f.lit(at_us - widest))
        )
        kcols = [f.col(f"`{k}`") for k in keys]
        df = rows.groupBy(*kcols).agg(*self._agg_columns(aggregations, created_ts, f.lit(at_us)))
        df = df.orderBy(*kcols)
        target = pa.schema(
            [(k, _result_type(schema.field(k).type)) for k in keys]
            + [(a.output, _agg_type(a, schema)) for a in aggregations]
        )
        return df, target

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
        df, target = self._window_at(files, keys, event_ts, aggregations, at, created_ts)
        return _reader(_Conform(target).table(self._collect(df, files)))

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
        """The raw rows with ``start < e <= end``, ordered by key and time."""
        if not files:
            raise QueryError("window_events needs at least one file")
        f = self._f
        schema = self._schema(files)
        cols = list(dict.fromkeys(columns))
        _check_columns(schema, [*keys, *cols, event_ts], "table")
        t = self._micros(event_ts, files)
        created = self._micros(created_ts, files) if created_ts else f.lit(None).cast("long")
        needed = [*keys, *cols, event_ts, *([created_ts] if created_ts else [])]
        df = (
            self._read(files, needed)
            .select(
                *[f.col(f"`{k}`") for k in keys],
                t.alias("__ts"),
                created.alias("__created"),
                *[f.col(f"`{c}`") for c in cols],
            )
            .where(
                (f.col("__ts") > f.lit(_epoch_us(start))) & (f.col("__ts") <= f.lit(_epoch_us(end)))
            )
            .orderBy(*[f.col(f"`{k}`") for k in keys], "__ts")
        )
        target = pa.schema(
            [(k, _result_type(schema.field(k).type)) for k in keys]
            + [("__ts", _UTC_US), ("__created", _UTC_US)]
            + [(c, _result_type(schema.field(c).type)) for c in cols]
        )
        return _reader(_Conform(target).table(self._collect(df, files)))

    # -- latest rows --------------------------------------------------------------------

    def _latest(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        created_ts: str | None,
        columns: Sequence[str] | Mapping[str, str],
        start: datetime | None,
        end: datetime | None,
    ) -> tuple[DataFrame, pa.Schema]:
        if not files:
            raise QueryError("latest needs at least one file")
        f = self._f
        schema = self._schema(files)
        cols = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
        _check_columns(schema, [*keys, *cols.values(), event_ts], "table")
        t = self._micros(event_ts, files)
        needed = [*keys, *cols.values(), event_ts, *([created_ts] if created_ts else [])]
        df = self._read(files, needed).select(
            *[f.col(f"`{k}`") for k in keys],
            *[f.col(f"`{src}`").alias(f"__fs_o{i}") for i, src in enumerate(cols.values())],
            t.alias(_T),
            (self._micros(created_ts, files) if created_ts else f.lit(None).cast("long")).alias(
                _CR
            ),
        )
        cond = f.col(_T).isNotNull()
        if start is not None:
            cond = cond & (f.col(_T) >= f.lit(_epoch_us(start)))
        if end is not None:
            cond = cond & (f.col(_T) <= f.lit(_epoch_us(end)))
        w = self._window.partitionBy(*[f.col(f"`{k}`") for k in keys]) if keys else self._window
        w = w.orderBy(f.col(_T).desc(), f.col(_CR).desc_nulls_last())
        df = df.where(cond).withColumn("__fs_n", f.row_number().over(w)).where("__fs_n = 1")
        sel = [f.col(f"`{k}`") for k in keys]
        sel += [f.col(f"__fs_o{i}").alias(out) for i, out in enumerate(cols)]
        sel.append(f.col(_T).alias(event_ts))
        fields = [(k, _result_type(schema.field(k).type)) for k in keys]
        fields += [(out, _result_type(schema.field(src).type)) for out, src in cols.items()]
        fields.append((event_ts, _UTC_US))
        if created_ts:
            sel.append(f.col(_CR).alias(created_ts))
            fields.append((created_ts, _UTC_US))
        return df.select(*sel), pa.schema(fields)

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
        """The latest row per key with ``start <= e <= end`` (ties: greatest created time)."""
        df, target = self._latest(files, keys, event_ts, created_ts, columns, start, end)
        return _reader(_Conform(target).table(self._collect(df, files)))

    # -- sorted scans and per-partition functions ----------------------------------------

    def sorted_rows(self, files: Sequence[str], order: Sequence[str]) -> pa.RecordBatchReader:
        """Every row of ``files`` ordered by ``order``, sorted on Spark (compaction's read)."""
        if not files:
            raise QueryError("sorted_rows needs at least one file")
        schema = self._schema(files)
        _check_columns(schema, list(order), "table")
        df = self._read(files)
        if order:
            df = df.orderBy(*[self._f.col(f"`{c}`") for c in order])
        target = pa.schema([(fld.name, _result_type(fld.type)) for fld in schema])
        return _reader(_Conform(target).table(self._collect(df, files)))

    def _query_frame(self, query: RowQuery) -> tuple[DataFrame, pa.Schema]:
        if isinstance(query, LatestRows):
            return self._latest(
                query.files,
                query.keys,
                query.event_ts,
                query.created_ts,
                query.columns,
                query.start,
                query.end,
            )
        return self._window_at(
            query.files,
            query.keys,
            query.event_ts,
            query.aggregations,
            query.at,
            query.created_ts,
        )

    def map_rows(
        self, query: RowQuery, fn: PartitionFn, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """Run ``fn`` on the executors over each partition of the query's rows
        (``mapInArrow``); only what ``fn`` yields comes back to the driver.

        The rows are cached until the next query, so a check pass and then a write pass
        over the same query compute them once.
        """
        with self._lock:
            if self._cached is not None and self._cached[0] == query:
                df = self._cached[1]
                _, target = self._query_frame(query)
            else:
                if self._cached is not None:
                    self._cached[1].unpersist()
                    self._cached = None
                df, target = self._query_frame(query)
                df = df.persist()
                self._cached = (query, df)
        out = df.mapInArrow(_OnExecutor(fn, _Conform(target), schema), _ddl(schema))
        table = self._collect(out, query.files)
        yield from _Conform(schema).table(table).to_batches()

    # -- SQL ----------------------------------------------------------------------------

    def sql(
        self,
        query: str,
        tables: Mapping[str, Sequence[str]],
        schemas: Mapping[str, pa.Schema] | None = None,
    ) -> pa.Table:
        """One read-only SELECT, run in DuckDB's sandbox over the same files."""
        with self._lock:
            if self._duckdb is None:
                self._duckdb = Engine(filesystem=self._fs)
            sandbox = self._duckdb
        return sandbox.sql(query, tables, schemas)


@functools.lru_cache(maxsize=1024)
def _file_schema(path: str, mtime_ns: int, size: int) -> pa.Schema:
    """A Parquet file's schema, read once per version of the file."""
    return pq.read_schema(path)


def _by_row(t: pa.Table) -> pa.Table:
    """Rows in entity order: sorted here, cheaper than a global sort on the cluster."""
    return t.take(pc.sort_indices(t.column(_RN)))


def _reader(t: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(t.schema, t.to_batches(_BATCH_ROWS))


def _epoch_us(t: datetime) -> int:
    return micros(utc_datetime(t) - _EPOCH)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
