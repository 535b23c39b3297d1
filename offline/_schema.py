"""Checking and casting incoming data against a table's schema, before anything is written."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from offline._errors import SchemaMismatchError
from offline._time import UTC_US, to_utc_us

__all__ = ["Data", "as_arrow", "check_schema", "conform", "normalize_schema"]

Data = Any  # pa.Table | pa.RecordBatchReader | polars / pandas DataFrame | Parquet path


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """The stored form of a schema: every timestamp becomes timestamp[us, UTC]."""
    fields = [f.with_type(UTC_US) if pa.types.is_timestamp(f.type) else f for f in schema]
    return pa.schema(fields)


def as_arrow(data: Data) -> pa.Table | pa.RecordBatchReader:
    """Arrow view of supported inputs: Arrow, polars, pandas or a Parquet file path."""
    if isinstance(data, pa.Table | pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, str | os.PathLike):
        f = pq.ParquetFile(os.fspath(data))
        return pa.RecordBatchReader.from_batches(f.schema_arrow, f.iter_batches())
    module = type(data).__module__
    if module.startswith("polars"):
        return data.to_arrow()
    if module.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        f"cannot write {type(data).__name__}; pass a pyarrow Table or RecordBatchReader, "
        "a polars or pandas DataFrame, or a Parquet file path"
    )


def _int_fits(src: pa.DataType, dst: pa.DataType) -> bool:
    sw, dw = src.bit_width, dst.bit_width
    if pa.types.is_signed_integer(dst):
        return bool(sw <= dw if pa.types.is_signed_integer(src) else sw < dw)
    return bool(pa.types.is_unsigned_integer(src) and sw <= dw)


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    """Whether every value of ``src`` has a faithful value in ``dst``."""
    if src == dst or pa.types.is_null(src):
        return True
    if pa.types.is_dictionary(src):
        return _castable(src.value_type, dst)
    if pa.types.is_timestamp(dst):
        return bool(pa.types.is_timestamp(src) or pa.types.is_date(src))
    if pa.types.is_integer(dst):
        return pa.types.is_integer(src) and _int_fits(src, dst)
    if pa.types.is_floating(dst):
        if pa.types.is_floating(src):
            return bool(src.bit_width <= dst.bit_width)
        return bool(pa.types.is_integer(src))  # exactness checked by the safe cast
    strings = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if any(p(dst) for p in strings):
        return any(p(src) for p in strings)
    binaries = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    if any(p(dst) for p in binaries):
        return any(p(src) for p in binaries)
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_list_view)
    if any(p(dst) for p in lists) and any(p(src) for p in lists):
        return _castable(src.value_type, dst.value_type)
    if pa.types.is_map(dst):
        if pa.types.is_map(src):
            return _castable(src.key_type, dst.key_type) and _castable(src.item_type, dst.item_type)
        if pa.types.is_struct(src):
            return all(_castable(src.field(i).type, dst.item_type) for i in range(src.num_fields))
        return False
    if pa.types.is_struct(dst) and pa.types.is_struct(src):
        names = {src.field(i).name: src.field(i).type for i in range(src.num_fields)}
        wanted = {dst.field(i).name: dst.field(i).type for i in range(dst.num_fields)}
        return set(names) <= set(wanted) and all(_castable(t, wanted[n]) for n, t in names.items())
    return False


def _struct_to_map(col: pa.Array, dst: pa.DataType) -> pa.Array:
    """A struct column as a map from its field names to its (non-null) values."""
    names = [col.type.field(i).name for i in range(col.type.num_fields)]
    children = [pc.cast(col.field(i), dst.item_type).to_pylist() for i in range(len(names))]
    valid = col.is_valid().to_pylist()
    rows: list[list[tuple[str, Any]] | None] = []
    for r in range(len(col)):
        if not valid[r]:
            rows.append(None)
            continue
        rows.append([(n, c[r]) for n, c in zip(names, children, strict=True) if c[r] is not None])
    return pa.array(rows, dst)


def _struct_to_struct(col: pa.Array, dst: pa.DataType) -> pa.Array:
    """A struct column with ``dst``'s fields: same names cast, absent ones null."""
    names = [col.type.field(i).name for i in range(col.type.num_fields)]
    arrays = []
    for i in range(dst.num_fields):
        f = dst.field(i)
        if f.name in names:
            arrays.append(_cast_array(col.field(names.index(f.name)), f))
        else:
            arrays.append(pa.nulls(len(col), f.type))
    mask = col.is_null() if col.null_count else None
    return pa.StructArray.from_arrays(arrays, fields=list(dst), mask=mask)


def _cast_array(col: pa.Array, field: pa.Field) -> pa.Array:
    if col.type == field.type:
        return col
    if pa.types.is_map(field.type) and pa.types.is_struct(col.type):
        return _struct_to_map(col, field.type)
    if pa.types.is_struct(field.type) and pa.types.is_struct(col.type):
        return _struct_to_struct(col, field.type)
    if pa.types.is_timestamp(field.type):
        return to_utc_us(col).cast(field.type)
    return pc.cast(col, field.type, safe=True)


def check_schema(found: pa.Schema, expected: pa.Schema) -> None:
    """Raise if ``found`` lacks a column of ``expected``, has an unknown one or an unsafe type."""
    for f in expected:
        if f.name not in found.names:
            raise SchemaMismatchError(f.name, str(f.type), "missing column")
        src = found.field(f.name).type
        if not _castable(src, f.type):
            raise SchemaMismatchError(f.name, str(f.type), str(src), "no safe cast")
    extra = [n for n in found.names if n not in expected.names]
    if extra:
        raise SchemaMismatchError(
            extra[0],
            "no such column",
            str(found.field(extra[0]).type),
            f"the table has columns {expected.names}",
        )


def _cast(col: pa.Array | pa.ChunkedArray, field: pa.Field) -> Any:
    if pa.types.is_dictionary(col.type):
        col = (
            col.dictionary_decode()
            if isinstance(col, pa.Array)
            else pc.cast(col, col.type.value_type)
        )
    if col.type == field.type:
        return col
    try:
        if pa.types.is_struct(col.type) and (
            pa.types.is_struct(field.type) or pa.types.is_map(field.type)
        ):
            chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
            return pa.chunked_array([_cast_array(c, field) for c in chunks], field.type)
        if pa.types.is_timestamp(field.type):
            return to_utc_us(col).cast(field.type)
        return pc.cast(col, field.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as e:
        raise SchemaMismatchError(field.name, str(field.type), str(col.type), str(e)) from e


def conform(
    data: pa.Table | pa.RecordBatch, schema: pa.Schema, not_null: Sequence[str]
) -> pa.Table:
    """``data`` with ``schema``'s columns, order and types; checks ``not_null`` columns."""
    check_schema(data.schema, schema)
    cols = []
    for f in schema:
        col = _cast(data.column(f.name), f)
        if (f.name in not_null or not f.nullable) and col.null_count:
            raise SchemaMismatchError(
                f.name,
                f"{f.type} without nulls",
                f"{col.null_count} null(s)",
                "key columns must not be null",
            )
        cols.append(col)
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([pa.RecordBatch.from_arrays(cols, schema=schema)])
    return pa.Table.from_arrays(cols, schema=schema)


def conformed_batches(
    data: pa.Table | pa.RecordBatchReader, schema: pa.Schema, not_null: Sequence[str]
) -> Iterator[pa.Table]:
    """Conform ``data`` piece by piece (a reader is never held in memory whole)."""
    check_schema(data.schema, schema)
    if isinstance(data, pa.Table):
        yield conform(data, schema, not_null)
        return
    for batch in data:
        yield conform(batch, schema, not_null)
