"""Pushes and direct writes: fresh rows into the online store and a view's offline table.

A push to a push source updates the feature views whose source is that push source
(online: one monotonic write per view) and/or appends its rows once to the push
source's batch table on a branch (staged, visible to every read of that branch before
a commit). ``write_to_online_store`` and ``write_to_offline_store`` do the same for one
named view. Every write is checked and cast (``featurestore.casts``) before anything is
written anywhere, so a refused write leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from featurestore.aggregates import tiled
from featurestore.boundary import translated
from featurestore.casts import cast_column, cast_columns
from featurestore.definitions import FeatureView, PushSource
from featurestore.entity_keys import check_key_column, check_rows, encode_key_columns, key_types
from featurestore.errors import NotFoundError, SchemaError, ValidationError
from featurestore.frames import DataLike, as_utc_timestamps, check_times, to_arrow
from featurestore.materialization import key_lifetime

if TYPE_CHECKING:
    from featurestore.registry import Registry
    from featurestore.store import FeatureStore

__all__ = ["push", "push_target", "write_offline", "write_online"]

_TARGETS = ("online", "offline", "online_and_offline")


def push_target(to: object) -> str:
    """``to=`` as ``online`` / ``offline`` / ``online_and_offline``: a string or any enum
    whose name says it (``PushMode.ONLINE_AND_OFFLINE``, Feast's too)."""
    name = getattr(to, "name", to)
    if isinstance(name, str) and name.lower() in _TARGETS:
        return name.lower()
    raise ValidationError(
        f"to={to!r}: use 'online', 'offline' or 'online_and_offline' (or PushMode.ONLINE, "
        "PushMode.OFFLINE, PushMode.ONLINE_AND_OFFLINE)"
    )


@dataclass(frozen=True)
class _OnlineWrite:
    """One view's rows ready for the online store: encoded keys, cast values, event times."""

    view: FeatureView
    keys: list[bytes]
    values: pa.Table
    event_ts: pa.ChunkedArray | pa.Array


def _event_times(data: pa.Table, column: str, what: str) -> pa.Table:
    """``data`` with ``column`` checked and made UTC microseconds (naive times are UTC)."""
    if column not in data.schema.names:
        raise SchemaError(f"{what}: column {column!r} (the event time) is missing; add it")
    i = data.schema.get_field_index(column)
    values = data.column(i)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = cast_column(values, pa.timestamp("us", tz="UTC"), name=column, what=what)
    check_times(values, name=column, what=what, sub_micros=False)
    utc = as_utc_timestamps(values, name=column)
    return data.set_column(i, pa.field(column, utc.type), utc)


def _typed_keys(data: pa.Table, views: list[FeatureView], what: str) -> pa.Table:
    """Join key columns of numeric strings cast to their integer key type (Feast's server
    casts them too); anything else is left for ``check_key_column`` to judge."""
    types = key_types((f.name, f.dtype.to_arrow()) for v in views for f in v.entity_columns)
    for key, dtype in types.items():
        i = data.schema.get_field_index(key)
        if i < 0 or dtype is None or not pa.types.is_integer(dtype):
            continue
        column = data.column(i)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            cast = cast_column(column, dtype, name=key, what=what)
            data = data.set_column(i, pa.field(key, dtype), cast)
    return data


def _online_write(view: FeatureView, data: pa.Table, what: str) -> _OnlineWrite:

    if view.is_aggregation:
        raise ValidationError(
            f"{what}: view {view.name!r} aggregates windows, which are built by "
            "materialize; write its raw rows offline and materialize instead"
        )
    needed = (*view.join_keys, *view.feature_names)
    missing = [c for c in needed if c not in data.schema.names]
    if missing:
        raise SchemaError(f"{what}: view {view.name!r} needs column(s) {missing}; add them")
    declared = {f.name: f.dtype.to_arrow() for f in view.entity_columns}
    for key in view.join_keys:
        check_key_column(key, data.column(key), declared.get(key), what)
    fields = [f.to_arrow() for f in view.features]
    values = cast_columns(data.select([f.name for f in fields]), fields, what=what)
    with translated():
        keys = encode_key_columns(
            view.join_keys, [data.column(k) for k in view.join_keys], data.num_rows
        )
    return _OnlineWrite(view, keys, values, data.column(view.source.timestamp_field))


def _offline_rows(
    store: FeatureStore, branch: str, table: str, data: pa.Table, needed: list[str], what: str
) -> pa.Table:
    """``data`` as rows of ``table``: columns the views of this write need must be given;
    other columns of the table (other views' features) are null; unknown ones refused."""
    with translated():
        schema = store.tables.schema(branch, table)
    missing = [c for c in needed if c in schema.names and c not in data.schema.names]
    if missing:
        raise SchemaError(f"{what}: column(s) {missing} are missing; add them")
    extra = [c for c in data.schema.names if c not in schema.names]
    if extra:
        raise SchemaError(
            f"{what}: table {table!r} has no column(s) {extra} (it has {schema.names}); "
            "drop them, or add them to a view's schema and apply first"
        )
    data = cast_columns(data, schema, what=what)
    columns = [
        data.column(f.name) if f.name in data.schema.names else pa.nulls(data.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=pa.schema([f.with_nullable(True) for f in schema]))


def _view_columns(view: FeatureView) -> list[str]:
    src = view.source
    out = [*view.join_keys, src.timestamp_field, *view.feature_names]
    return list(dict.fromkeys(out))


def _frame(df: DataLike, what: str) -> pa.Table:
    data = to_arrow(df, what=what)
    if data.num_rows == 0:
        raise ValidationError(f"{what}: no rows given; pass at least one row")
    return data


def push(
    store: FeatureStore, source_name: str, df: DataLike, to: object, branch: str | None
) -> int:
    """Write ``df`` to the views whose source is push source ``source_name`` (online)
    and/or append it once to its batch table on ``branch`` (offline); the rows taken."""
    from featurestore.namespaces import written_branch

    target = push_target(to)
    name = written_branch(store, branch, "push to")
    registry = store._serving_registry() if branch is None else store.registry(name)
    sources = registry.data_sources_by_name
    source = sources.get(source_name)
    if not isinstance(source, PushSource):
        pushes = sorted(n for n, s in sources.items() if isinstance(s, PushSource))
        raise NotFoundError(f"no push source {source_name!r} is applied; known: {pushes}")
    what = f"push to {source_name!r}"
    views = [
        v
        for v in registry.feature_views
        if isinstance(v.source, PushSource) and v.source.name == source_name
    ]
    data = _frame(df, what)
    data = _event_times(data, source.batch_source.timestamp_field, what)
    table = source.batch_source.table
    # keys and times are checked for every view over the table: offline rows feed them all
    readers = [v for v in registry.feature_views if v.source.table == table]
    data = _typed_keys(data, readers, what)
    check_rows(data, readers, table, what, typed=True)
    online_writes = []
    folds: list[tuple[FeatureView, pa.Table]] = []
    if target != "offline":
        online_writes = [
            _online_write(v, data, what) for v in views if v.online and not v.is_aggregation
        ]
        # windowed views fold the events into their series (others wait for materialize)
        folds = [(v, _fold_events(v, data, what)) for v in views if v.online and tiled(v)]
    rows = None
    if target != "online":
        needed = list(dict.fromkeys(c for v in views for c in _view_columns(v)))
        if not needed:
            needed = [source.batch_source.timestamp_field]
        rows = _offline_rows(store, name, table, data, needed, what)
    _apply(store, name, table, rows, online_writes, folds)
    return int(data.num_rows)


def _fold_events(view: FeatureView, data: pa.Table, what: str) -> pa.Table:
    """The pushed rows as events of ``view``'s series, checked (SchemaError if unfit)."""
    from featurestore.aggregates import events_from_rows

    src = view.source
    needed = [*view.join_keys, *(a.column for a in view.aggregations)]
    missing = [c for c in dict.fromkeys(needed) if c not in data.schema.names]
    if missing:
        raise SchemaError(f"{what}: view {view.name!r} needs column(s) {missing}; add them")
    return events_from_rows(view, data, src.timestamp_field, src.created_timestamp_column, what)


def _apply(
    store: FeatureStore,
    branch: str,
    table: str,
    rows: pa.Table | None,
    online_writes: list[_OnlineWrite],
    folds: list[tuple[FeatureView, pa.Table]] | None = None,
) -> None:
    """Stage the offline rows (if any), then write every view online (``branch``'s
    namespace, ``featurestore.namespaces``) and fold events into windowed views' series;
    all checked before."""
    from featurestore.aggregates import series_spec, tile_store
    from featurestore.namespaces import online_for, register

    with translated():
        if rows is not None:
            store.tables.write(branch, table, rows, mode="append")
        if online_writes or folds:
            register(store, branch)
        target = online_for(store, branch)
        for w in online_writes:
            target.write(w.view.name, w.keys, w.values, w.event_ts, ttl=key_lifetime(w.view.ttl))
        for view, events in folds or ():
            tile_store(target).fold(series_spec(view), events)


def _view(registry: Registry, name: str, what: str) -> FeatureView:
    views = registry.feature_views_by_name
    if name in views:
        return views[name]
    if name in registry.on_demand_feature_views_by_name:
        raise ValidationError(
            f"{what}: {name!r} is an on-demand view, computed at lookup from the views it "
            "reads; write to those views instead"
        )
    raise NotFoundError(f"no feature view {name!r} is applied; known: {sorted(views)}")


def write_online(
    store: FeatureStore, view_name: str, df: DataLike, branch: str | None = None
) -> int:
    """Write rows of one view (join keys, event time, features) to the online store, in
    ``branch``'s namespace (default: the default branch's)."""
    from featurestore.namespaces import written_branch

    name = written_branch(store, branch, "write online to")
    registry = store._serving_registry() if branch is None else store.registry(name)
    what = f"write to the online store of {view_name!r}"
    view = _view(registry, view_name, what)
    data = _frame(df, what)
    data = _event_times(data, view.source.timestamp_field, what)
    data = _typed_keys(data, [view], what)
    _apply(store, name, view.source.table, None, [_online_write(view, data, what)])
    return int(data.num_rows)


def write_offline(store: FeatureStore, view_name: str, df: DataLike, branch: str | None) -> int:
    """Append rows of one view to its source table on ``branch`` (staged, not committed)."""
    from featurestore.namespaces import written_branch

    name = written_branch(store, branch, "write to")
    registry = store.registry(name)
    what = f"write to the offline store of {view_name!r}"
    view = _view(registry, view_name, what)
    data = _frame(df, what)
    data = _event_times(data, view.source.timestamp_field, what)
    table = view.source.table
    readers = [v for v in registry.feature_views if v.source.table == table]
    data = _typed_keys(data, readers, what)
    check_rows(data, readers, table, what, typed=True)
    rows = _offline_rows(store, name, table, data, _view_columns(view), what)
    _apply(store, name, table, rows, [])
    return int(data.num_rows)
