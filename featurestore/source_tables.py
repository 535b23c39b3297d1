"""The source tables: which table a definition reads, the columns its views need, the row
key, and ingest of rows into them (checked and cast before anything is staged)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.casts import cast_columns
from featurestore.definitions import FeatureView, PushSource
from featurestore.definitions.sources import map_table_fields
from featurestore.entity_keys import check_rows
from featurestore.errors import DefinitionError, NotFoundError, ValidationError
from featurestore.frames import DataLike, drop_pandas_index, to_arrow
from featurestore.progress import Progress, report

if TYPE_CHECKING:
    import offline
    from featurestore.registry import Registry
    from featurestore.store import FeatureStore

__all__ = ["ingest", "natural_keys", "table_of", "tables_needed"]


def table_of(registry: Registry, source: str | FeatureView | PushSource) -> str:
    """The table a source, push source or feature view (or one of their names) reads."""
    if isinstance(source, FeatureView):
        return source.source.table
    if isinstance(source, PushSource):
        return source.batch_source.table
    sources = registry.data_sources_by_name
    if source in sources:
        found = sources[source]
        return found.batch_source.table if isinstance(found, PushSource) else found.table  # type: ignore[union-attr]
    views = registry.feature_views_by_name
    if source in views:
        return views[source].source.table
    raise NotFoundError(
        f"no source or feature view named {source!r} is applied; known sources: "
        f"{sorted(sources)}. Run `featurestore apply` first"
    )


def ingest(
    store: FeatureStore,
    source: str | FeatureView | PushSource,
    data: DataLike,
    branch: str | None,
    mode: Literal["append", "upsert", "delete"],
    keys: Sequence[str] | None,
    progress: Progress | None,
) -> offline.WriteResult:
    """``FeatureStore.ingest``: rows staged in a source's table on ``branch``."""
    if mode not in ("append", "upsert", "delete"):
        raise ValidationError(f"mode={mode!r}: use 'append', 'upsert' or 'delete'")
    name = store._branch_name(branch)
    registry = store.registry(name)
    table_name = table_of(registry, source)
    arrow = drop_pandas_index(to_arrow(data, what=f"data for {table_name!r}"))
    arrow = map_table_fields(arrow, registry.data_sources, table_name)
    check_rows(arrow, registry.feature_views, table_name, f"data for {table_name!r}", typed=False)
    if mode != "append" and not keys:
        keys = natural_keys(registry, table_name)
    with translated():
        stored = store.tables.schema(name, table_name)
    # float64 for Float32, whole floats for integers, ...; times are the table's to check
    arrow = cast_columns(
        arrow,
        [f for f in stored if not pa.types.is_timestamp(f.type)],
        what=f"data for {table_name!r}",
    )
    what = f"ingest {table_name}"
    total = arrow.num_rows
    report(progress, what, 0, total)
    with translated():
        result = store.tables.write(
            name,
            table_name,
            arrow,
            mode=mode,
            keys=keys,
            on_rows=None if progress is None else lambda n: report(progress, what, n, total),
        )
    report(progress, what, total, total)
    return result


def tables_needed(registry: Registry) -> list[tuple[str, pa.Schema]]:
    """Each source table the views read, with the columns they need (keys, times, fields)."""
    out: dict[str, dict[str, pa.Field]] = {}
    for view in registry.feature_views:
        src = view.source
        table = src.table
        cols = out.setdefault(table, {})
        typed = {f.name for f in view.entity_columns}
        untyped = [k for k in view.join_keys if k not in typed]
        if untyped:
            raise DefinitionError(
                f"feature view {view.name!r}: the type of join key(s) {untyped} is unknown; "
                "give the Entity a value_type or add a Field for it to the view's schema"
            )
        for f in view.entity_columns:
            cols.setdefault(f.name, f.to_arrow())
        cols.setdefault(
            src.timestamp_field, pa.field(src.timestamp_field, pa.timestamp("us", tz="UTC"))
        )
        if src.created_timestamp_column:
            cols.setdefault(
                src.created_timestamp_column,
                pa.field(src.created_timestamp_column, pa.timestamp("us", tz="UTC")),
            )
        for f in view.raw_columns:
            cols.setdefault(f.name, f.to_arrow())
    return [(t, pa.schema(list(cols.values()))) for t, cols in out.items()]


def natural_keys(registry: Registry, table: str) -> tuple[str, ...]:
    """The row key of a source table: its views' join keys and the event time."""
    for view in registry.feature_views:
        if view.source.table == table:
            return (*view.join_keys, view.source.timestamp_field)
    return ()
