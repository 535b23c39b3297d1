"""Conversion of user data (pandas, polars, Arrow, Parquet paths, dicts) to Arrow."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.errors import ValidationError

DataLike = Any
"""A pandas or polars DataFrame, an Arrow table or record batch reader, a Parquet path,
or a mapping of column name to values."""


def to_arrow(data: DataLike, *, what: str = "data") -> pa.Table:
    """Return ``data`` as an Arrow table, or raise ``ValidationError`` saying what it was."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, (str, os.PathLike)):
        import pyarrow.parquet as pq

        path = os.fspath(data)
        if not os.path.exists(path):
            raise ValidationError(f"{what}: no file at {path!r}; pass an existing Parquet path")
        try:
            return pq.read_table(path)
        except pa.ArrowInvalid as e:
            raise ValidationError(f"{what}: {path!r} is not a readable Parquet file: {e}") from e
    if isinstance(data, Mapping):
        try:
            return pa.table(_broadcast(data))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as e:
            raise ValidationError(
                f"{what}: columns could not be read as Arrow ({e}): give each column values of "
                "one type, integers within 64 bits"
            ) from e
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            raise ValidationError(
                f"{what}: the DataFrame could not be read as Arrow ({e}): give each column "
                "values of one type, integers within 64 bits"
            ) from e
    if module == "polars":
        table: pa.Table = data.to_arrow()
        return table
    raise ValidationError(
        f"{what}: expected a pandas or polars DataFrame, an Arrow table, a Parquet path or "
        f"a dict of columns, got {type(data).__name__}"
    )


_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
"""How pandas names the column that keeps an unnamed index when it writes Arrow or Parquet."""


def drop_pandas_index(table: pa.Table) -> pa.Table:
    """``table`` without the columns pandas adds for an unnamed index (``__index_level_0__``).

    pandas writes a DataFrame's index as a column unless it is a plain range (after a
    sort or a filter it is not); it is no data of the user's. A named index is kept: its
    column (``driver_id`` after ``set_index``) may well be data.
    """
    extra = [n for n in table.column_names if _PANDAS_INDEX.fullmatch(n)]
    if not extra:
        return table
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    return table.drop_columns(extra).replace_schema_metadata(metadata or None)


def _is_column(value: Any) -> bool:
    """Whether a mapping's value is a column of values (not one value for every row)."""
    if isinstance(value, str | bytes | Mapping):
        return False
    return isinstance(value, Sequence | pa.Array | pa.ChunkedArray) or hasattr(value, "__array__")


def _broadcast(data: Mapping[Any, Any]) -> dict[str, Any]:
    """Columns of a mapping; a single value (``"rate": 0.5``) is repeated for every row,
    as pandas does for ``DataFrame({"id": [1, 2], "rate": 0.5})``."""
    lengths = {len(v) for v in data.values() if _is_column(v)}
    n = lengths.pop() if len(lengths) == 1 else (1 if not lengths else None)
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, pa.Array | pa.ChunkedArray):
            out[str(k)] = v
        elif _is_column(v):
            out[str(k)] = list(v)
        elif n is None:
            raise ValidationError(
                f"column {k!r} holds one value but the other columns differ in length "
                f"({sorted(len(x) for x in data.values() if _is_column(x))}); give every "
                "column the same number of values"
            )
        else:
            out[str(k)] = [v] * n
    return out


def rows_to_columns(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
) -> dict[str, list[Any]]:
    """Entity rows as a list of dicts or a dict of lists, returned as a dict of lists."""
    if isinstance(rows, Mapping):
        columns = {str(k): list(v) for k, v in rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValidationError(
                f"entity rows: every column needs the same number of values, got lengths "
                f"{sorted(lengths)}"
            )
        return columns
    columns = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValidationError(f"entity rows: row {i} is {type(row).__name__}, expected a dict")
        if i == 0:
            columns = {str(k): [] for k in row}
        if set(row) != set(columns):
            raise ValidationError(
                f"entity rows: row {i} has keys {sorted(row)}, row 0 has {sorted(columns)}"
            )
        for k, v in row.items():
            columns[str(k)].append(v)
    return columns


def as_utc_timestamps(
    column: pa.ChunkedArray | pa.Array, *, name: str
) -> pa.ChunkedArray | pa.Array:
    """A timestamp column in microseconds, UTC; naive values are read as UTC.

    Sub-microsecond digits are truncated, as stored rows are: stored times are
    microseconds, so ``e <= t`` is unchanged by it.
    """
    t = column.type
    if pa.types.is_timestamp(t):
        micros = pc.cast(column, pa.timestamp("us", tz=t.tz), safe=False)
        if t.tz is None:
            return pc.assume_timezone(micros, "UTC")
        return micros.cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_date(t):
        return column.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            parsed = pc.strptime(column, format="%Y-%m-%dT%H:%M:%S", unit="us")
        except pa.ArrowInvalid as e:
            raise ValidationError(
                f"column {name!r}: strings are not ISO timestamps (YYYY-MM-DDTHH:MM:SS): {e}"
            ) from e
        return as_utc_timestamps(parsed, name=name)
    raise ValidationError(f"column {name!r} must hold timestamps, found {t}")


_UNIT_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}
_FIRST_US = -62_135_596_800_000_000
"""0001-01-01T00:00:00 UTC in microseconds since 1970."""
_LAST_US = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999 UTC: the last time a Python datetime holds."""


def check_times(
    column: pa.ChunkedArray | pa.Array,
    *,
    name: str,
    what: str,
    nulls: bool = False,
    sub_micros: bool = True,
) -> None:
    """Refuse times that could not be stored and read back as they were given.

    Refused: nulls (unless ``nulls``), times outside the years 1-9999 (what Python
    datetimes hold, so reads could not return them), and, unless ``sub_micros``,
    nanosecond digits (stored times are microseconds). Strings and other types are
    left to ``as_utc_timestamps``.
    """
    t = column.type
    if column.null_count and not nulls:
        raise ValidationError(
            f"{what}: column {name!r} has {column.null_count} null time(s); every row needs "
            "one: drop or fill those rows"
        )
    if not (pa.types.is_timestamp(t) or pa.types.is_date(t)) or len(column) == column.null_count:
        return
    if pa.types.is_date(t):
        days = column.cast(pa.int32() if pa.types.is_date32(t) else pa.int64())
        bounds = pc.min_max(days)
        low, high = bounds["min"].as_py() * 86_400_000_000, bounds["max"].as_py() * 86_400_000_000
    else:
        raw = column.cast(pa.int64())
        bounds = pc.min_max(raw)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if t.unit == "ns":
            low, high = lo // 1000, hi // 1000
            if not sub_micros:
                rest = pc.not_equal(pc.subtract(raw, pc.multiply(pc.divide(raw, 1000), 1000)), 0)
                if pc.any(rest).as_py():
                    first = pc.filter(raw, rest)[0].as_py()
                    raise ValidationError(
                        f"{what}: column {name!r} has a time with sub-microsecond digits "
                        f"({first} ns since 1970); stored times are whole microseconds: "
                        "round them (e.g. pandas .dt.floor('us')) and send them again"
                    )
        else:
            low, high = lo * _UNIT_MICROS[t.unit], hi * _UNIT_MICROS[t.unit]
    if low < _FIRST_US or high > _LAST_US:
        raise ValidationError(
            f"{what}: column {name!r} has a time outside the years 1-9999 "
            f"({low if low < _FIRST_US else high} microseconds since 1970); fix those rows"
        )
