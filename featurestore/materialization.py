"""Materialization: the latest row per entity at a commit, written to the online store.

Each run records, in the online store itself, the view's branch, commit and watermark,
so a later incremental run reads only what is new and ``online_status`` can tell which
commit each view serves. Writes are monotonic, so reruns and overlaps are harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.definitions import FeatureView
from featurestore.entity_keys import encode_key_columns
from featurestore.errors import SchemaError, ValidationError
from featurestore.frames import check_times
from featurestore.progress import Progress, report

if TYPE_CHECKING:
    import offline
    import online

__all__ = [
    "MaterializeResult",
    "ViewState",
    "clear_all_online",
    "clear_online",
    "key_lifetime",
    "materialize_view",
    "materialize_view_incremental",
    "read_states",
    "write_state",
]

STATE_TABLE = "_materialization"
_STATE_SCHEMA = pa.schema(
    [
        ("branch", pa.string()),
        ("commit", pa.string()),
        ("watermark", pa.timestamp("us", tz="UTC")),
        ("files", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True)
class MaterializeResult:
    """One view's run: the commit it read, the interval, rows written and rows skipped."""

    view: str
    branch: str
    commit_id: str
    start: datetime | None
    end: datetime
    rows_written: int
    rows_stale: int
    full: bool


@dataclass(frozen=True)
class ViewState:
    """What the online store serves for one view: from which branch and commit, up to when."""

    view: str
    branch: str
    commit_id: str
    watermark: datetime
    files: tuple[str, ...]


def key_lifetime(ttl: timedelta | None) -> timedelta | None:
    """How long after its event time the online store keeps a value: twice the ttl.

    Lookups refuse values older than the ttl; keeping them one more ttl lets a lookup
    tell an expired value (``OUTSIDE_MAX_AGE``) from one never stored (``NOT_FOUND``),
    as Feast does, before Redis drops the key.
    """
    return None if ttl is None else 2 * ttl


def _state_key(view: str) -> bytes:
    import online

    return online.encode_entity_key(["view"], [view])


def read_states(store: online.OnlineStore, views: list[str]) -> dict[str, ViewState]:
    """The recorded state of each view that was materialized (one round trip)."""
    import online as online_pkg

    if not views:
        return {}
    request = online_pkg.ReadRequest(
        table=STATE_TABLE, keys=[_state_key(v) for v in views], schema=_STATE_SCHEMA
    )
    (table,) = store.read([request])
    out = {}
    for view, row in zip(views, table.to_pylist(), strict=True):
        if row["commit"] is not None:
            out[view] = ViewState(
                view, row["branch"], row["commit"], row["watermark"], tuple(row["files"] or ())
            )
    return out


def write_state(store: online.OnlineStore, state: ViewState) -> None:
    now = pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC"))
    values = pa.table(
        {
            "branch": [state.branch],
            "commit": [state.commit_id],
            "watermark": pa.array([state.watermark], pa.timestamp("us", tz="UTC")),
            "files": pa.array([list(state.files)], pa.list_(pa.string())),
        },
        schema=_STATE_SCHEMA,
    )
    store.write(STATE_TABLE, [_state_key(state.view)], values, now)


def _rows(
    view: FeatureView, files: list[str], start: datetime | None, end: datetime
) -> offline.RowQuery:
    """What the view materializes: each entity's latest row, or its aggregates at ``end``."""
    import offline as offline_pkg

    src = view.source
    keys = list(view.join_keys)
    if view.is_aggregation:
        aggs = [
            offline_pkg.WindowAgg(
                output=a.name,
                function=a.function,  # type: ignore[arg-type]
                column=a.column,
                window=a.time_window,
            )
            for a in view.aggregations
        ]
        return offline_pkg.WindowRowsAt(
            files, keys, src.timestamp_field, aggs, at=end, created_ts=src.created_timestamp_column
        )
    return offline_pkg.LatestRows(
        files,
        keys,
        src.timestamp_field,
        src.created_timestamp_column,
        list(view.feature_names),
        start=start,
        end=end,
    )


@dataclass(frozen=True)
class _Write:
    """One batch ready for the online store: encoded keys, cast values, event times."""

    keys: list[bytes]
    values: pa.Table
    event_ts: pa.Array | pa.ChunkedArray


_CHECKED = pa.schema([("kind", pa.string()), ("problem", pa.string()), ("rows", pa.int64())])
_WRITTEN = pa.schema([("written", pa.int64()), ("stale", pa.int64()), ("rows", pa.int64())])


@dataclass(frozen=True)
class _Check:
    """Checks a partition's rows (keys, types, times) where they live; yields problems
    (``kind`` ``schema`` or ``validation``) and row counts, never the rows."""

    view: FeatureView
    end: datetime
    only: pa.Array | None

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        what = f"materialize {self.view.name!r} from table {self.view.source.table!r}"
        for batch in batches:
            try:
                write = _check_batch(self.view, batch, self.end, self.only, what)
            except SchemaError as e:
                yield _checked("schema", str(e), 0)
                return
            except ValidationError as e:
                yield _checked("validation", str(e), 0)
                return
            yield _checked(None, None, 0 if write is None else write.values.num_rows)


def _checked(kind: str | None, problem: str | None, rows: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"kind": [kind], "problem": [problem], "rows": [rows]}, schema=_CHECKED
    )


@dataclass(frozen=True)
class _Writer:
    """Writes a partition's rows to the online store where they live (a Spark executor
    opens its own connections from the pickled store); yields what each batch wrote."""

    view: FeatureView
    end: datetime
    only: pa.Array | None
    store: online.OnlineStore
    commit_id: str

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        what = f"materialize {self.view.name!r} from table {self.view.source.table!r}"
        for batch in batches:
            w = _check_batch(self.view, batch, self.end, self.only, what)
            if w is None:
                continue
            result = self.store.write(
                self.view.name,
                w.keys,
                w.values,
                w.event_ts,
                commit=self.commit_id,
                ttl=key_lifetime(self.view.ttl),
            )
            yield pa.RecordBatch.from_pydict(
                {
                    "written": [result.written],
                    "stale": [result.stale],
                    "rows": [w.values.num_rows],
                },
                schema=_WRITTEN,
            )


def _check_rows(
    view: FeatureView,
    engine: offline.ComputeEngine,
    query: offline.RowQuery,
    end: datetime,
    only: pa.Array | None,
) -> int:
    """Check every row the view will write (where the rows live); the number of rows.

    Nothing is written until all of them pass, so a run that is refused leaves the
    online store as it was (and ``online_status`` true).
    """
    import offline as offline_pkg

    total = 0
    try:
        for batch in engine.map_rows(query, _Check(view, end, only), _CHECKED):
            for kind, problem, rows in zip(
                batch.column("kind").to_pylist(),
                batch.column("problem").to_pylist(),
                batch.column("rows").to_pylist(),
                strict=True,
            ):
                if problem is not None:
                    raise (SchemaError if kind == "schema" else ValidationError)(problem)
                total += rows
    except offline_pkg.CorruptTableError as e:
        message = str(e).replace("a table this read needs", f"table {view.source.table!r}")
        raise offline_pkg.CorruptTableError(f"materialize {view.name!r}: {message}") from e
    return total


def _check_batch(
    view: FeatureView, batch: pa.RecordBatch, end: datetime, only: pa.Array | None, what: str
) -> _Write | None:
    """One batch of ``view``'s rows made ready to write (None: nothing to write), or raise."""
    import online as online_pkg

    if batch.num_rows == 0:
        return None
    keys = list(view.join_keys)
    try:
        encoded = encode_key_columns(keys, [batch.column(k) for k in keys], batch.num_rows)
    except online_pkg.OnlineError as e:
        raise ValidationError(
            f"{what}: {e}. Fix those rows on the branch (ingest with mode='upsert' or "
            "'delete'), commit, and materialize again"
        ) from e
    if only is not None:
        mask = pc.is_in(pa.array(encoded, pa.binary()), value_set=only)
        batch = batch.filter(mask)
        encoded = [k for k, keep in zip(encoded, mask.to_pylist(), strict=True) if keep]
        if batch.num_rows == 0:
            return None
    declared = pa.schema([f.to_arrow() for f in view.features])
    try:
        values = pa.Table.from_batches([batch]).select(declared.names).cast(declared)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise SchemaError(f"{what}: stored values do not fit the view's declared types: {e}") from e
    if view.is_aggregation:
        event_ts: pa.Array | pa.ChunkedArray = pa.array(
            [end] * batch.num_rows, pa.timestamp("us", tz="UTC")
        )
    else:
        event_ts = batch.column(view.source.timestamp_field)
        try:
            check_times(event_ts, name=view.source.timestamp_field, what=what)
        except ValidationError as e:
            raise ValidationError(
                f"{e}. Fix those rows on the branch, commit, and materialize again"
            ) from e
    return _Write(encoded, values, event_ts)


@dataclass(frozen=True)
class _Part:
    """One read of a run: the latest rows of ``files`` from ``start``, for ``only``'s entities."""

    files: list[str]
    start: datetime | None
    only: pa.Array | None


def materialize_view(
    view: FeatureView,
    files: list[str],
    engine: offline.ComputeEngine,
    store: online.OnlineStore,
    *,
    commit_id: str,
    start: datetime | None,
    end: datetime,
    on_rows: Callable[[int], None] | None = None,
    only: pa.Array | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write the view's latest rows in ``[start, end]`` from ``files`` to the online store.

    The rows are checked, then written, where the engine holds them (in this process
    for DuckDB, on the executors, partition by partition, for Spark: never collected
    to the driver). Every row is checked before the first is written (a bad row
    refuses the whole run); ``only`` (encoded entity keys) restricts the write to those entities.
    """
    parts = [_Part(files, start, only)] if files else []
    return _write_parts(view, parts, engine, store, commit_id, end, on_rows, progress)


def _write_parts(
    view: FeatureView,
    parts: list[_Part],
    engine: offline.ComputeEngine,
    store: online.OnlineStore,
    commit_id: str,
    end: datetime,
    on_rows: Callable[[int], None] | None,
    progress: Progress | None,
) -> tuple[int, int]:
    """Check every part's rows, then write them: a bad row in any part writes nothing."""
    what = f"materialize {view.name}"
    queries = [(_rows(view, p.files, p.start, end), p.only) for p in parts]
    total = sum(_check_rows(view, engine, query, end, only) for query, only in queries)
    report(progress, what, 0, total)
    written = stale = done = 0
    for query, only in queries:
        writer = _Writer(view, end, only, store, commit_id)
        for batch in engine.map_rows(query, writer, _WRITTEN):
            for w, st, rows in zip(
                *(batch.column(c).to_pylist() for c in _WRITTEN.names), strict=True
            ):
                written += w
                stale += st
                if on_rows is not None:
                    on_rows(rows)
                done += rows
                report(progress, what, done, total)
    return written, stale


_Latest = tuple[int, int | None]
"""An entity's latest row in a set of files: event and created time in microseconds since
1970 (created None: no column or a null), as any time a table holds fits there."""


def _micros(column: pa.Array | pa.ChunkedArray) -> list[int | None]:
    micros: list[int | None] = (
        column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    )
    return micros


def _latest_times(
    view: FeatureView,
    engine: offline.ComputeEngine,
    files: list[str],
    start: datetime | None,
    end: datetime,
) -> dict[bytes, _Latest]:
    """Each entity's latest (event, created) time in ``files`` from ``start`` to ``end``."""
    keys = list(view.join_keys)
    src = view.source
    found: dict[bytes, _Latest] = {}
    if not files:
        return found
    for batch in engine.latest(
        files, keys, src.timestamp_field, src.created_timestamp_column, [], start=start, end=end
    ):
        if not batch.num_rows:
            continue
        encoded = encode_key_columns(keys, [batch.column(k) for k in keys], batch.num_rows)
        events = _micros(batch.column(src.timestamp_field))
        created = (
            _micros(batch.column(src.created_timestamp_column))
            if src.created_timestamp_column
            else [None] * batch.num_rows
        )
        for key, event, made in zip(encoded, events, created, strict=True):
            if event is not None:  # a null event time is never a latest row
                found[key] = (event, made)
    return found


def _served_times(
    view: FeatureView, store: online.OnlineStore, keys: list[bytes]
) -> list[int | None]:
    """The event time (microseconds) of the row the online store holds per key (None: none)."""
    import online as online_pkg

    table = store.read([online_pkg.ReadRequest(view.name, keys, pa.schema([]))])[0]
    return _micros(table.column(online_pkg.EVENT_TS_COLUMN))


def materialize_view_incremental(
    view: FeatureView,
    old_files: list[str],
    added_files: list[str],
    watermark: datetime,
    engine: offline.ComputeEngine,
    store: online.OnlineStore,
    *,
    commit_id: str,
    end: datetime,
    on_rows: Callable[[int], None] | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write what changed since a run that read ``old_files`` up to ``watermark``.

    The entities touched are those with rows in ``added_files`` (late rows too) or rows
    after the watermark in ``old_files``. Where the newest of those rows is newer than
    the row served, it is the entity's latest row over all files (the served row was
    the latest up to the watermark), so only the new rows are read. Every other touched
    entity (none served, a late row no newer than the served one, an event-time tie
    between the two sets) gets its latest row over all files, so a late row that ties
    a served row on event time loses to a greater created time, exactly as in a full
    run (the online store orders by event time only).
    """
    # the last run read old_files' rows up to the watermark itself (times compare as
    # microseconds), so only rows strictly after it are new there
    since = watermark + timedelta(microseconds=1)
    added = _latest_times(view, engine, added_files, None, end)
    after = _latest_times(view, engine, old_files, since, end)
    touched = sorted(added.keys() | after.keys())
    if not touched:
        report(progress, f"materialize {view.name}", 0, 0)
        return 0, 0
    from_added: list[bytes] = []
    from_old: list[bytes] = []
    everywhere: list[bytes] = []
    for key, served in zip(touched, _served_times(view, store, touched), strict=True):
        a, o = added.get(key), after.get(key)
        newest = max((t for t in (a, o) if t is not None), key=_order)
        if served is None or newest[0] <= served or (a and o and a[0] == o[0]):
            everywhere.append(key)
        elif newest is a:
            from_added.append(key)
        else:
            from_old.append(key)
    parts = [
        _Part(files, start, pa.array(keys, pa.binary()))
        for files, start, keys in (
            (added_files, None, from_added),
            (old_files, since, from_old),
            (sorted({*old_files, *added_files}), None, everywhere),
        )
        if keys
    ]
    return _write_parts(view, parts, engine, store, commit_id, end, on_rows, progress)


def _order(t: _Latest) -> tuple[int, bool, int]:
    """Latest-row order: event time, then created time (a missing one sorts first)."""
    return (t[0], t[1] is not None, t[1] if t[1] is not None else 0)


def clear_online(store: online.OnlineStore, views: list[str]) -> int:
    """Remove every online value of ``views`` and their materialization records.

    The records go first: a run killed part way leaves views with no record (served as
    never materialized, and the next ``materialize_incremental`` starts over with a full
    run), never a record claiming values that are gone. Returns the number of keys
    removed.
    """
    if not views:
        return 0
    from featurestore.aggregates import series_table

    tables = [t for v in views for t in (v, series_table(v))]
    removed = store.delete(STATE_TABLE, [_state_key(t) for t in tables])
    return removed + sum(store.delete_table(t) for t in tables)


def clear_all_online(store: online.OnlineStore) -> int:
    """Remove every online key of the project: all views' values, defined or not, and
    every materialization record (records first, as in ``clear_online``)."""
    return store.delete_table(STATE_TABLE) + store.delete_all()
