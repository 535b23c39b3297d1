"""Spark reads of Parquet objects that live behind an fsspec filesystem (``s3://`` ...).

Spark reads local paths with its own Parquet reader, but reading ``s3://`` needs
Hadoop's S3A jars, which pyspark does not ship. So for a repository on object storage
Spark reads through its Python workers instead: a DataFrame of the object list (one row
per object) goes through ``mapInArrow``, whose function opens each object with the
repository's filesystem (pickled to the executor as its class and storage options, so
it is rebuilt there with the same endpoint and credentials) and yields its record
batches with one schema.

The batches carry the types Spark's own reader gives the same file, so every query
above reads the same columns either way: nanosecond timestamps as longs (as with
``spark.sql.legacy.parquet.nanosAsLong``), naive timestamps as ``timestamp_ntz``, large
strings as strings, dictionaries as their values, unsigned integers widened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from offline._errors import OfflineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["ObjectBatches", "check_readable", "read_objects", "spark_side_schema"]

_BATCH_ROWS = 64 * 1024
_PROCESS_LOCAL = frozenset({"memory"})
"""fsspec protocols whose files exist only in the process that wrote them."""


def check_readable(fs: fsspec.AbstractFileSystem | None) -> None:
    """Refuse a filesystem Spark's executors cannot open (one that lives in this process)."""
    if fs is None:
        return
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protocols & _PROCESS_LOCAL:
        raise OfflineError(
            f"the Spark engine cannot read {sorted(protocols)[0]}:// storage: its objects live "
            "in this process only, and Spark's executors are other processes; use a local "
            "folder, a shared file system or an object store such as s3://, or the DuckDB engine"
        )


def _spark_side(typ: pa.DataType) -> pa.DataType:
    """The Arrow type a column of ``typ`` reaches Spark as (what Spark's reader gives)."""
    if pa.types.is_timestamp(typ):
        if typ.unit == "ns":
            return pa.int64()
        return pa.timestamp("us", tz="UTC") if typ.tz else pa.timestamp("us")
    if pa.types.is_dictionary(typ):
        return _spark_side(typ.value_type)
    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pa.string()
    if pa.types.is_large_binary(typ) or pa.types.is_fixed_size_binary(typ):
        return pa.binary()
    if pa.types.is_uint8(typ):
        return pa.int16()
    if pa.types.is_uint16(typ):
        return pa.int32()
    if pa.types.is_uint32(typ):
        return pa.int64()
    if pa.types.is_uint64(typ):
        return pa.decimal128(20, 0)
    if pa.types.is_date64(typ):
        return pa.date32()
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return pa.list_(pa.field("element", _spark_side(typ.value_type)))
    if pa.types.is_struct(typ):
        return pa.struct([pa.field(f.name, _spark_side(f.type)) for f in typ])
    if pa.types.is_map(typ):
        return pa.map_(_spark_side(typ.key_type), _spark_side(typ.item_type))
    return typ


def spark_side_schema(schema: pa.Schema, columns: Sequence[str] | None = None) -> pa.Schema:
    """The batches' schema for a file of ``schema`` (only ``columns``, if given)."""
    names = list(dict.fromkeys(columns)) if columns is not None else schema.names
    return pa.schema([pa.field(n, _spark_side(schema.field(n).type)) for n in names])


@dataclass(frozen=True)
class ObjectBatches:
    """The ``mapInArrow`` function: each path of a partition's rows, read as batches of
    ``schema`` (a column an object lacks reads as nulls, as Spark's reader does)."""

    filesystem: fsspec.AbstractFileSystem
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            for path in b.column(0).to_pylist():
                yield from self._object(str(path))

    def _object(self, path: str) -> Iterator[pa.RecordBatch]:
        with self.filesystem.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            have = set(pf.schema_arrow.names)
            columns = [n for n in self.schema.names if n in have]
            for rb in pf.iter_batches(_BATCH_ROWS, columns=columns, use_threads=False):
                yield self._conform(rb)

    def _conform(self, rb: pa.RecordBatch) -> pa.RecordBatch:
        cols: list[Any] = []
        for field in self.schema:
            i = rb.schema.get_field_index(field.name)
            if i < 0:
                cols.append(pa.nulls(rb.num_rows, field.type))
                continue
            col = rb.column(i)
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            cols.append(col if col.type == field.type else col.cast(field.type))
        return pa.RecordBatch.from_arrays(cols, schema=self.schema)


def read_objects(
    spark: SparkSession,
    files: Sequence[str],
    filesystem: fsspec.AbstractFileSystem,
    schema: pa.Schema,
    columns: Sequence[str] | None = None,
) -> DataFrame:
    """The rows of ``files`` (objects of ``filesystem``, all of file schema ``schema``) as a
    Spark DataFrame read by the Python workers; ``columns`` keeps only those."""
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    side = spark_side_schema(schema, columns)
    spark_schema = from_arrow_schema(side, prefer_timestamp_ntz=True)
    exact = to_arrow_schema(spark_schema, timezone="UTC")
    sc = spark.sparkContext
    slices = max(1, min(len(files), 4 * sc.defaultParallelism))
    paths = spark.createDataFrame(sc.parallelize([(p,) for p in files], slices), "path string")
    return paths.mapInArrow(ObjectBatches(filesystem, exact), spark_schema)
