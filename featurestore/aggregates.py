"""Windowed views online: each entity's series of tiles and raw edge events.

A windowed view is served from what ``online.TileStore`` keeps per entity: partial
aggregates per tile plus the raw events of the widest window, so a lookup at time t
answers what ``get_historical_features`` computes at t. Materialization replaces each
entity's series with its rows of one commit (deletes offline disappear); a push folds
its events in (the same event twice counts once).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.definitions import FeatureView
from featurestore.entity_keys import encode_key_columns
from featurestore.errors import SchemaError, ValidationError
from featurestore.materialization import ViewState
from featurestore.progress import Progress, report

if TYPE_CHECKING:
    import offline
    import online

__all__ = [
    "events_from_rows",
    "fold_rows",
    "materialize_series",
    "materialize_windowed",
    "read_series",
    "series_read",
    "series_spec",
    "series_table",
    "tile_store",
    "tiled",
    "touched_entities",
]

KEY, TS, CREATED = "__key", "__ts", "__created"
_UTC_US = pa.timestamp("us", tz="UTC")
_BATCH_KEYS = 512
"""Entities per ``TileStore.replace`` call (one script call, atomic per entity)."""
_INTEGERS = frozenset({pa.int8(), pa.int16(), pa.int32(), pa.int64()})

_specs: dict[int, tuple[FeatureView, online.SeriesSpec]] = {}


def _micros(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def _column_types(view: FeatureView) -> dict[str, pa.DataType]:
    """The declared Arrow type of each column the view aggregates."""
    declared = {f.name: f.dtype.to_arrow() for f in view.schema}
    return {a.column: declared[a.column] for a in view.aggregations}


_tile_stores: dict[int, tuple[online.RedisOnlineStore, online.TileStore]] = {}


def tile_store(store: online.RedisOnlineStore) -> online.TileStore:
    """The series of ``store`` (its connections and key prefix), made once per store."""
    seen = _tile_stores.get(id(store))
    if seen is not None and seen[0] is store:
        return seen[1]
    import online as online_pkg

    tiles = online_pkg.TileStore(store)
    if len(_tile_stores) > 64:
        _tile_stores.clear()
    _tile_stores[id(store)] = (store, tiles)
    return tiles


def tiled(view: FeatureView) -> bool:
    """Whether ``view`` is served from series: windowed, over columns tiles can hold
    (numbers, booleans, strings, binaries, timestamps, dates); a ``last`` of another type
    (an array, a map) keeps the view's values frozen at the materialization's end."""
    if not view.is_aggregation:
        return False
    import online as online_pkg

    return all(online_pkg.column_kind(t) is not None for t in _column_types(view).values())


def series_table(view: str) -> str:
    """The online table that holds the series of ``view`` (what teardown and erasure clear)."""
    return f"{view}~tiles"


def series_spec(view: FeatureView) -> online.SeriesSpec:
    """What the online store keeps for ``view``: its aggregates, columns and tile size."""
    cached = _specs.get(id(view))
    if cached is not None and cached[0] is view:
        return cached[1]
    import online as online_pkg

    types = _column_types(view)
    aggs = tuple(
        online_pkg.AggSpec(
            column=a.column,
            function=a.function,  # type: ignore[arg-type]
            window_us=_micros(a.time_window),
            output=a.name,
            integer=types[a.column] in _INTEGERS,
        )
        for a in view.aggregations
    )
    spec = online_pkg.SeriesSpec(
        table=view.name,
        specs=aggs,
        columns=tuple(types),
        types=tuple(types.values()),
        tile_us=online_pkg.tile_size([a.window_us for a in aggs]),
    )
    if len(_specs) > 1024:
        _specs.clear()
    _specs[id(view)] = (view, spec)
    return spec


def _widest(view: FeatureView) -> timedelta:
    widest = view.max_window
    assert widest is not None, "only windowed views have series"
    return widest


def events_from_rows(
    view: FeatureView,
    rows: pa.Table,
    event_ts: str,
    created_ts: str | None,
    what: str,
) -> pa.Table:
    """``rows`` (join keys, event time, created time, columns) as the events of a series:
    ``__key`` (the encoded entity key), ``__ts``, ``__created`` and the aggregated columns
    cast to their declared types."""
    import online as online_pkg

    keys = list(view.join_keys)
    try:
        encoded = encode_key_columns(keys, [rows.column(k) for k in keys], rows.num_rows)
    except online_pkg.OnlineError as e:
        raise ValidationError(f"{what}: {e}") from e
    n = rows.num_rows
    created = (
        rows.column(created_ts).cast(_UTC_US)
        if created_ts is not None and created_ts in rows.schema.names
        else pa.nulls(n, _UTC_US)
    )
    columns: dict[str, Any] = {
        KEY: pa.array(encoded, pa.binary()),
        TS: rows.column(event_ts).cast(_UTC_US),
        CREATED: created,
    }
    for column, dtype in _column_types(view).items():
        try:
            columns[column] = rows.column(column).cast(dtype)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise SchemaError(
                f"{what}: column {column!r} does not fit its declared type {dtype}: {e}"
            ) from e
    return pa.table(columns)


def _window_rows(
    view: FeatureView, files: list[str], engine: offline.ComputeEngine, end: datetime
) -> pa.Table:
    """The view's raw rows with ``end - widest window < e <= end`` (all entities)."""
    src = view.source
    reader = engine.window_events(
        files,
        list(view.join_keys),
        src.timestamp_field,
        list(_column_types(view)),
        end - _widest(view),
        end,
        created_ts=src.created_timestamp_column,
    )
    return reader.read_all()


def touched_entities(
    view: FeatureView,
    engine: offline.ComputeEngine,
    reads: Sequence[tuple[Sequence[str], datetime | None, datetime | None]],
) -> set[bytes]:
    """The encoded keys of entities with rows in each ``(files, after, until)``: rows with
    ``after < e <= until`` (None: unbounded)."""
    keys = list(view.join_keys)
    src = view.source
    out: set[bytes] = set()
    for files, after, until in reads:
        if not files:
            continue
        for batch in engine.latest(
            list(files), keys, src.timestamp_field, src.created_timestamp_column, [], end=until
        ):
            if after is not None and batch.num_rows:
                ts = batch.column(src.timestamp_field)
                batch = batch.filter(pc.greater(ts, pa.scalar(after, _UTC_US)))
            if batch.num_rows:
                out.update(
                    encode_key_columns(keys, [batch.column(k) for k in keys], batch.num_rows)
                )
    return out


def materialize_series(
    view: FeatureView,
    files: list[str],
    engine: offline.ComputeEngine,
    tiles: online.TileStore,
    *,
    commit_id: str,
    end: datetime,
    only: set[bytes] | None = None,
    also: set[bytes] | None = None,
    on_rows: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    before_write: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Replace the series of ``view``'s entities with their rows of ``files`` before ``end``.

    Every entity with rows in the widest window is replaced (``only``: just those), and so
    is every entity of ``also`` (cleared if it has no rows left). All rows are read and
    checked before the first write. Returns (events written, 0).
    """
    what = f"materialize {view.name!r} from table {view.source.table!r}"
    if files:
        events = events_from_rows(view, _window_rows(view, files, engine, end), TS, CREATED, what)
    else:
        events = _empty_events(view)
    if only is not None:
        events = events.filter(pc.is_in(events.column(KEY), value_set=pa.array(only, pa.binary())))
        chosen = set(only)
    else:
        chosen = set(events.column(KEY).to_pylist())
    keys = sorted(chosen | (also or set()))
    total = events.num_rows
    report(progress, f"materialize {view.name}", 0, total)
    spec = series_spec(view)
    since = _micros(end - _widest(view) - datetime(1970, 1, 1, tzinfo=end.tzinfo))
    written = done = 0
    if keys and before_write is not None:
        before_write()
    for i in range(0, len(keys), _BATCH_KEYS):
        chunk = keys[i : i + _BATCH_KEYS]
        part = events.filter(pc.is_in(events.column(KEY), value_set=pa.array(chunk, pa.binary())))
        written += tiles.replace(spec, chunk, part, commit_id, since)
        done += part.num_rows
        if on_rows is not None:
            on_rows(part.num_rows)
        report(progress, f"materialize {view.name}", done, total)
    return written, 0


def materialize_windowed(
    view: FeatureView,
    files: list[str],
    previous: ViewState | None,
    incremental: bool,
    engine: offline.ComputeEngine,
    tiles: online.TileStore,
    *,
    commit_id: str,
    end: datetime,
    on_rows: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    before_write: Callable[[], None] | None = None,
) -> tuple[int, int, bool]:
    """One run of a windowed view: (events written, 0, whether it was a full run).

    Incremental (after a run recorded in ``previous``): only entities with rows in the
    files added or removed since (appends, corrections, deletes), or after the previous
    watermark, are replaced. A full run replaces every entity with rows in the window,
    and clears those the previous run served that have none left.
    """
    removed = sorted(set(previous.files) - set(files)) if previous is not None else []
    if incremental and previous is not None and all(os.path.exists(f) for f in removed):
        kept = sorted(set(previous.files) & set(files))
        changed = sorted(set(files) ^ set(previous.files))
        touched = touched_entities(
            view, engine, [(changed, None, None), (kept, previous.watermark, None)]
        )
        if not touched:
            report(progress, f"materialize {view.name}", 0, 0)
            return 0, 0, False
        written, stale = materialize_series(
            view,
            files,
            engine,
            tiles,
            commit_id=commit_id,
            end=end,
            only=touched,
            on_rows=on_rows,
            progress=progress,
            before_write=before_write,
        )
        return written, stale, False
    served: set[bytes] = set()
    if previous is not None:
        old = [f for f in previous.files if os.path.exists(f)]
        start = previous.watermark - _widest(view)
        served = touched_entities(view, engine, [(old, start, previous.watermark)])
    written, stale = materialize_series(
        view,
        files,
        engine,
        tiles,
        commit_id=commit_id,
        end=end,
        also=served,
        on_rows=on_rows,
        progress=progress,
        before_write=before_write,
    )
    return written, stale, True


def _empty_events(view: FeatureView) -> pa.Table:
    fields = [pa.field(KEY, pa.binary()), pa.field(TS, _UTC_US), pa.field(CREATED, _UTC_US)]
    fields += [pa.field(c, t) for c, t in _column_types(view).items()]
    return pa.schema(fields).empty_table()


def fold_rows(
    view: FeatureView, rows: pa.Table, tiles: online.TileStore, what: str
) -> tuple[int, int]:
    """Fold pushed rows into ``view``'s series: (events added, duplicates)."""
    src = view.source
    events = events_from_rows(view, rows, src.timestamp_field, src.created_timestamp_column, what)
    return tiles.fold(series_spec(view), events)


def read_series(
    views: Sequence[FeatureView],
    keys: Sequence[Sequence[bytes]],
    tiles: online.TileStore,
    at: datetime,
) -> list[pa.Table]:
    """Each view's aggregates at ``at`` for its keys, all in one round trip."""
    return series_read(views, keys, tiles, at).finish(None)


def series_read(
    views: Sequence[FeatureView],
    keys: Sequence[Sequence[bytes]],
    tiles: online.TileStore,
    at: datetime,
) -> online.PendingRead:
    """``read_series`` packed, to send in the same pipeline as other reads."""
    at_us = _micros(at - datetime(1970, 1, 1, tzinfo=at.tzinfo))
    requests = [(series_spec(v), k) for v, k in zip(views, keys, strict=True)]
    return tiles.pending_read(requests, at_us)
