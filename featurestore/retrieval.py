"""Point-in-time training sets: entity rows joined with features as of their timestamps."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.definitions import FeatureService
from featurestore.display import LIMIT, html_table, text_table
from featurestore.errors import ValidationError
from featurestore.features import FeaturePlan, internal_name, plan_features
from featurestore.frames import DataLike, as_utc_timestamps, to_arrow
from featurestore.progress import Progress, report

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import polars as pl
    import torch

    import offline
    from featurestore.store import FeatureStore

__all__ = ["RetrievalJob", "entity_timestamp_column", "historical_job", "read_point", "to_pandas"]

ENTITY_TS = "event_timestamp"


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas keeping integers and booleans nullable instead of float/object."""
    import pandas as pd

    nullable: dict[pa.DataType, Any] = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    frame: pd.DataFrame = table.to_pandas(types_mapper=nullable.get)
    return frame


def entity_timestamp_column(schema: pa.Schema) -> str:
    """``event_timestamp`` if present, else the only timestamp column of the entity rows."""
    if ENTITY_TS in schema.names:
        return ENTITY_TS
    candidates = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    if len(candidates) == 1:
        return str(candidates[0])
    raise ValidationError(
        "entity rows need a timestamp column: name it 'event_timestamp' "
        f"(found timestamp columns {candidates or 'none'} among {schema.names})"
    )


@dataclass(repr=False)
class RetrievalJob:
    """A lazy training-set build; nothing runs until ``to_arrow`` / ``to_pandas`` / ``to_polars``."""

    commit_id: str
    feature_refs: tuple[str, ...]
    definitions_hash: str
    _run: Callable[[], pa.Table] = field(repr=False)
    _result: pa.Table | None = field(default=None, repr=False)
    _stream: Callable[[], pa.RecordBatchReader] | None = field(default=None, repr=False)
    """The same build as record batches in entity order, never holding the whole result."""
    entity_rows: int | None = field(default=None, repr=False)
    """How many entity rows the build joins (None: read from a date range, not known yet)."""
    uncommitted: bool = False
    """Whether it reads a branch's uncommitted writes (``commit_id`` is then the head)."""

    def to_arrow(self, *, progress: Progress | None = None) -> pa.Table:
        """Build the training set (once; later calls return the same table).

        ``progress`` hears ``("get_historical_features", rows done, entity rows)``.
        """
        if self._result is None:
            what = "get_historical_features"
            report(progress, what, 0, self.entity_rows)
            self._result = self._run()
            report(progress, what, self._result.num_rows, self._result.num_rows)
        return self._result

    def _caption(self) -> str:
        state = (
            f"{self._result.num_rows} rows"
            if self._result is not None
            else "not built yet: to_df() / to_arrow() builds it"
        )
        where = f"commit {self.commit_id[:12]}" + (
            " + uncommitted writes" if self.uncommitted else ""
        )
        return f"RetrievalJob: {len(self.feature_refs)} feature(s) at {where}; {state}"

    def __repr__(self) -> str:
        refs = ", ".join(self.feature_refs)
        head = f"{self._caption()}\n  features: {refs}"
        if self._result is None:
            return head
        return f"{head}\n{text_table(self._result.slice(0, LIMIT).to_pydict())}" + (
            f"\n... {self._result.num_rows - LIMIT} more rows"
            if self._result.num_rows > LIMIT
            else ""
        )

    def _repr_html_(self) -> str:
        if self._result is None:
            return html_table({"feature": list(self.feature_refs)}, self._caption())
        return html_table(self._result.slice(0, LIMIT).to_pydict(), self._caption()) + (
            f"<p>... {self._result.num_rows - LIMIT} more rows</p>"
            if self._result.num_rows > LIMIT
            else ""
        )

    def to_pandas(self, *, progress: Progress | None = None) -> pd.DataFrame:
        return to_pandas(self.to_arrow(progress=progress))

    def to_df(self, validation_reference: None = None, timeout: int | None = None) -> pd.DataFrame:
        """Feast's name for ``to_pandas`` (``validation_reference`` is not supported)."""
        if validation_reference is not None:
            raise ValidationError(
                "validation_reference is not supported; check the frame after to_df()"
            )
        return self.to_pandas()

    def to_polars(self) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_batches(self, *, progress: Progress | None = None) -> pa.RecordBatchReader:
        """The training set as a stream of record batches, in entity row order.

        Unless ``to_arrow`` built it already, the join streams (DuckDB, spilling to disk)
        and the result is never held whole: for training sets larger than memory.
        ``progress`` hears ``("get_historical_features", rows done, entity rows)``.
        """
        what = "get_historical_features"
        if self._result is not None or self._stream is None:
            table = self.to_arrow(progress=progress)
            return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        report(progress, what, 0, self.entity_rows)
        reader = self._stream()

        def counted() -> Iterator[pa.RecordBatch]:
            done = 0
            for batch in reader:
                done += batch.num_rows
                yield batch
                report(progress, what, done, self.entity_rows)
            report(progress, what, done, done)

        return pa.RecordBatchReader.from_batches(reader.schema, counted())

    def to_parquet(self, path: str, *, progress: Progress | None = None) -> int:
        """Write the training set to the Parquet file ``path`` batch by batch; its rows.

        The file appears whole or not at all (written beside ``path``, then renamed).
        """
        import os

        import pyarrow.parquet as pq

        reader = self.to_batches(progress=progress)
        tmp = f"{path}.partial-{os.getpid()}"
        rows = 0
        try:
            with pq.ParquetWriter(tmp, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return rows

    def to_numpy(
        self,
        *,
        dtype: Any = "float32",
        null_fill: float | None = float("nan"),
        labels: Sequence[str] = (),
        label_dtype: Any = None,
        features: Sequence[str] | None = None,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None, np.ndarray[Any, Any] | None]:
        """(features, null mask or None, labels or None) as NumPy; see ``featurestore.tensors``."""
        from featurestore.tensors import split_columns, to_numpy

        table = self.to_arrow()
        names, label_names = split_columns(table, len(self.feature_refs), labels, features)
        x, mask = to_numpy(table, names, dtype=dtype, null_fill=null_fill)
        ydtype = dtype if label_dtype is None else label_dtype
        y = to_numpy(table, label_names, dtype=ydtype, null_fill=null_fill)[0] if labels else None
        return x, mask, y

    def to_torch(
        self,
        *,
        dtype: Any = None,
        device: Any = "cpu",
        null_fill: float | None = float("nan"),
        pin_memory: bool = False,
        labels: Sequence[str] = (),
        label_dtype: Any = None,
        features: Sequence[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(features, null mask or None, labels or None) as tensors on ``device``."""
        from featurestore.tensors import split_columns, to_torch

        table = self.to_arrow()
        names, label_names = split_columns(table, len(self.feature_refs), labels, features)
        opts = {"device": device, "null_fill": null_fill, "pin_memory": pin_memory}
        x, mask = to_torch(table, names, dtype=dtype, **opts)
        ydtype = dtype if label_dtype is None else label_dtype
        y = to_torch(table, label_names, dtype=ydtype, **opts)[0] if labels else None
        return x, mask, y


def historical_job(
    store: FeatureStore,
    entity_df: DataLike | None,
    features: Sequence[str] | FeatureService,
    full_feature_names: bool,
    ref: str | None,
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    exclude_created_after: bool,
) -> RetrievalJob:
    """The lazy training-set build of ``FeatureStore.get_historical_features``.

    Its files are listed now (objects are immutable), so the job stays pinned to what
    ``ref`` held at this call whatever is written later.
    """
    commit, at, uncommitted = read_point(store, ref)
    registry = store.registry(at)
    fplan = plan_features(features, registry, full_feature_names=full_feature_names)
    if entity_df is None:
        if start_date is None or end_date is None:
            raise ValidationError("pass entity_df, or both start_date and end_date")
        prepared: tuple[pa.Table, str] | None = None
    else:
        prepared = prepare_entities(to_arrow(entity_df, what="entity_df"), fplan)
    with translated():
        files = {v: store.tables.files(at, fplan.views[v].source.table) for v in fplan.views}

    def entities() -> tuple[pa.Table, str]:
        if prepared is not None:
            return prepared
        assert start_date is not None and end_date is not None
        rows = entities_in_range(fplan, files, store.engine, start_date, end_date)
        return prepare_entities(rows, fplan)

    def run() -> pa.Table:
        with translated():
            return join_features(
                *entities(),
                fplan,
                files,
                store.engine,
                full_feature_names=full_feature_names,
                exclude_created_after=exclude_created_after,
            )

    def stream() -> pa.RecordBatchReader:
        with translated():
            return stream_features(
                *entities(),
                fplan,
                files,
                store.engine,
                full_feature_names=full_feature_names,
                exclude_created_after=exclude_created_after,
            )

    refs = tuple(f"{v}:{f}" for v, f in fplan.refs)
    rows = None if prepared is None else prepared[0].num_rows
    return RetrievalJob(
        commit,
        refs,
        registry.hash,
        run,
        entity_rows=rows,
        uncommitted=uncommitted,
        _stream=stream,
    )


def read_point(store: FeatureStore, ref: str | None) -> tuple[str, str, bool]:
    """(commit id, what to read, whether it holds uncommitted writes) for ``ref``.

    A branch with staged changes is read as the branch (its writes included); any
    other ref is read at the commit it names now.
    """
    name = ref or store.config.default_branch
    commit = store.resolve(name)
    with translated():
        if name in {b.id for b in store.repository.branches()}:
            staged = next(iter(store.repository.branch(name).uncommitted()), None)
            if staged is not None:
                return commit, name, True
    return commit, commit, False


def prepare_entities(entities: pa.Table, plan: FeaturePlan) -> tuple[pa.Table, str]:
    """Check the entity rows against the plan; the timestamp column becomes UTC."""
    ts = entity_timestamp_column(entities.schema)
    missing = [k for k in plan.join_keys if k not in entities.schema.names]
    if missing:
        raise ValidationError(
            f"entity rows lack join key column(s) {missing} needed by views "
            f"{sorted(plan.views)}; add them (found {entities.schema.names})"
        )
    clashes = [n for n in plan.output_names if n in entities.schema.names]
    if clashes:
        raise ValidationError(
            f"entity rows already have column(s) {clashes} named like requested features; "
            "rename them or pass full_feature_names=True"
        )
    entities = _typed_keys(entities, plan)
    for odfv in plan.on_demand:
        for field_ in odfv.request_fields:
            _request_column(entities, odfv.name, field_.name, field_.to_arrow().type)
    column = entities.column(ts)
    if column.null_count:
        raise ValidationError(f"entity rows: {column.null_count} null value(s) in {ts!r}")
    index = entities.schema.get_field_index(ts)
    utc = as_utc_timestamps(column, name=ts)
    return entities.set_column(index, pa.field(ts, utc.type), utc), ts


def _typed_keys(entities: pa.Table, plan: FeaturePlan) -> pa.Table:
    """Join key columns without a type (all null, or no rows) get the declared one."""
    declared = {f.name: f.to_arrow().type for v in plan.views.values() for f in v.entity_columns}
    for key in plan.join_keys:
        i = entities.schema.get_field_index(key)
        if pa.types.is_null(entities.schema.field(i).type) and key in declared:
            entities = entities.set_column(i, key, entities.column(i).cast(declared[key]))
    return entities


def _specs(
    plan: FeaturePlan, files: dict[str, list[str]], exclude_created_after: bool
) -> tuple[list[offline.AsOfSpec], list[offline.WindowSpec]]:
    """The engine's join and window specs of ``plan``'s stored features."""
    import offline

    as_of: list[offline.AsOfSpec] = []
    windows: list[offline.WindowSpec] = []
    for name, features in plan.stored.items():
        view = plan.views[name]
        src = view.source
        keys = {k: k for k in view.join_keys}
        if view.is_aggregation:
            by_name = {a.name: a for a in view.aggregations}
            windows.append(
                offline.WindowSpec(
                    files=files[name],
                    keys=keys,
                    event_ts=src.timestamp_field,
                    created_ts=src.created_timestamp_column,
                    aggregations=[
                        offline.WindowAgg(
                            output=internal_name(name, f),
                            function=by_name[f].function,  # type: ignore[arg-type]
                            column=by_name[f].column,
                            window=by_name[f].time_window,
                        )
                        for f in features
                    ],
                )
            )
        else:
            as_of.append(
                offline.AsOfSpec(
                    files=files[name],
                    keys=keys,
                    event_ts=src.timestamp_field,
                    created_ts=src.created_timestamp_column,
                    columns={internal_name(name, f): f for f in features},
                    ttl=view.ttl,
                    exclude_created_after=exclude_created_after
                    and src.created_timestamp_column is not None,
                )
            )
    return as_of, windows


def _finish(result: pa.Table, entity_names: list[str], plan: FeaturePlan) -> pa.Table:
    """Declared types, on-demand views, then the output columns under their names."""
    result = _typed(result, plan)
    if plan.on_demand:
        result = _run_on_demand(result, plan)
    renamed = result.select(entity_names + [internal_name(v, f) for v, f in plan.refs])
    return renamed.rename_columns(entity_names + list(plan.output_names))


def join_features(
    entities: pa.Table,
    ts: str,
    plan: FeaturePlan,
    files: dict[str, list[str]],
    engine: offline.ComputeEngine,
    *,
    full_feature_names: bool,
    exclude_created_after: bool = False,
) -> pa.Table:
    """Join every stored feature of ``plan`` onto ``entities``, then run on-demand views."""
    as_of, windows = _specs(plan, files, exclude_created_after)
    result = engine.as_of_join(entities, ts, as_of).read_all() if as_of else entities
    for spec in windows:
        agg = engine.window_aggregate(entities, ts, spec).read_all()
        for a in spec.aggregations:
            result = result.append_column(a.output, agg.column(a.output))
    return _finish(result, list(entities.schema.names), plan)


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


class _Aligned:
    """Pulls exactly ``n`` rows at a time from a stream whose batches are sized otherwise."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self._batches = iter(reader)
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0

    def take(self, n: int) -> pa.Table:
        while self._rows < n:
            batch = next(self._batches, None)
            if batch is None:
                break
            self._pending.append(batch)
            self._rows += batch.num_rows
        table = pa.Table.from_batches(self._pending) if self._pending else None
        if table is None or table.num_rows < n:
            raise RuntimeError(f"a windowed aggregate stream ended before its {n} rows")
        head, rest = table.slice(0, n), table.slice(n)
        self._pending = rest.to_batches()
        self._rows = rest.num_rows
        return head


def stream_features(
    entities: pa.Table,
    ts: str,
    plan: FeaturePlan,
    files: dict[str, list[str]],
    engine: offline.ComputeEngine,
    *,
    full_feature_names: bool,
    exclude_created_after: bool = False,
) -> pa.RecordBatchReader:
    """``join_features`` as a stream of batches in entity order, never the whole result.

    The entities go to the engine as a stream, so it joins out of core (DuckDB spills)
    instead of loading every feature row; each windowed aggregate streams beside the
    join, row for row (every stream keeps the entity order).
    """
    as_of, windows = _specs(plan, files, exclude_created_after)
    names = list(entities.schema.names)
    main = engine.as_of_join(_reader(entities), ts, as_of) if as_of else _reader(entities)
    aligned = [(_Aligned(engine.window_aggregate(_reader(entities), ts, w)), w) for w in windows]

    def joined() -> Iterator[pa.Table]:
        for batch in main:
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            for stream, spec in aligned:
                agg = stream.take(batch.num_rows)
                for a in spec.aggregations:
                    table = table.append_column(a.output, agg.column(a.output))
            yield _finish(table, names, plan)

    outputs = joined()
    head = next(outputs, None)
    if head is None:  # no entity rows: the schema of the in-memory build
        empty = join_features(
            entities.slice(0, 0), ts, plan, files, engine, full_feature_names=full_feature_names
        )
        return _reader(empty)
    schema = head.schema

    def batches() -> Iterator[pa.RecordBatch]:
        for out in itertools.chain([head], outputs):
            if out.schema != schema:
                out = out.cast(schema)
            yield from out.combine_chunks().to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _typed(result: pa.Table, plan: FeaturePlan) -> pa.Table:
    """Cast fetched features to their declared types (DuckDB widens some)."""
    for name, features in plan.stored.items():
        declared = {f.name: f.dtype.to_arrow() for f in plan.views[name].features}
        for f in features:
            col = internal_name(name, f)
            i = result.schema.get_field_index(col)
            if i >= 0 and result.schema.field(i).type != declared[f]:
                result = result.set_column(i, col, result.column(i).cast(declared[f]))
    return result


def _request_column(table: pa.Table, view: str, name: str, dtype: pa.DataType) -> pa.ChunkedArray:
    """The request column ``name`` as its declared type, or a ValidationError saying why not."""
    if name not in table.schema.names:
        raise ValidationError(
            f"on-demand view {view!r} needs request column {name!r}; add it to the entity rows"
        )
    try:
        column: pa.ChunkedArray = table.column(name).cast(dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise ValidationError(
            f"on-demand view {view!r}: request column {name!r} must hold {dtype} values, "
            f"found {table.schema.field(name).type} ({e})"
        ) from e
    return column


def _run_on_demand(result: pa.Table, plan: FeaturePlan) -> pa.Table:
    frame = to_pandas(result)
    for odfv in plan.on_demand:
        inputs = {f: frame[internal_name(v, f)] for v, f in odfv.input_refs}
        for field_ in odfv.request_fields:
            column = _request_column(result, odfv.name, field_.name, field_.to_arrow().type)
            inputs[field_.name] = to_pandas(pa.table({field_.name: column}))[field_.name]
        import pandas as pd

        out = odfv.transform(pd.DataFrame(inputs))
        for f in odfv.features:
            values = pa.array(out[f.name].tolist(), type=f.dtype.to_arrow(), from_pandas=True)
            column = internal_name(odfv.name, f.name)
            result = result.append_column(column, values)
            # an on-demand view computed later may read this one (plan order)
            frame[column] = to_pandas(pa.table({column: values}))[column]
    return result


def _ts_literal(value: datetime) -> str:
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"TIMESTAMPTZ '{utc.isoformat()}'"


def entities_in_range(
    plan: FeaturePlan,
    files: dict[str, list[str]],
    engine: offline.ComputeEngine,
    start: datetime,
    end: datetime,
) -> pa.Table:
    """Every (join keys, event time) of the requested views' rows in ``[start, end]``."""
    keysets = {tuple(v.join_keys) for v in plan.views.values()}
    if len(keysets) != 1:
        raise ValidationError(
            "start_date/end_date without entity rows needs views that share their join keys; "
            f"these have {sorted(keysets)}: pass entity rows instead"
        )
    (keys,) = keysets
    cols = "".join(f'"{k}", ' for k in keys)  # none for views without entities
    lo, hi = _ts_literal(start), _ts_literal(end)
    selects, tables = [], {}
    for i, (name, view) in enumerate(plan.views.items()):
        if not files[name]:
            continue
        tables[f"t{i}"] = files[name]
        ts = f'CAST("{view.source.timestamp_field}" AS TIMESTAMPTZ)'
        selects.append(
            f"SELECT {cols}{ts} AS {ENTITY_TS} FROM t{i} WHERE {ts} BETWEEN {lo} AND {hi}"
        )
    if not selects:
        raise ValidationError("the requested views hold no rows yet; ingest and commit first")
    query = f"SELECT DISTINCT * FROM ({' UNION ALL '.join(selects)}) ORDER BY {cols}{ENTITY_TS}"
    return engine.sql(query, tables)
