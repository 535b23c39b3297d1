"""Lenient, safe casts of incoming columns to the types they are declared with.

Data rarely arrives in the exact declared types: pandas makes float64 of every float,
int64 of every integer, JSON has no float32, CSV files hold times as text. Like Feast,
such data is accepted when every value survives the cast:

- float64 for ``Float32`` (values beyond float32's range are refused, not made inf),
- any integer width for another (values outside the target's range are refused),
- whole floats for integers (``3.0`` -> ``3``; ``3.5`` is refused), integers for floats,
- numeric strings for numbers (``"12"`` -> ``12``; ``"abc"`` is refused),
- ISO-8601 strings, dates and naive times for timestamps (naive times are UTC),
- dicts for ``Map`` and ``Struct`` columns, whatever their key order, and the JSON
  text of such an object (what Feast's SDK sends for them over HTTP); a ``Struct`` row
  naming a field the struct lacks is refused rather than cut. ``Json`` stays text.

A refused cast raises ``SchemaError`` naming the column, the first bad row and its value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.errors import SchemaError
from featurestore.frames import as_utc_timestamps
from featurestore.types import from_arrow

__all__ = ["cast_column", "cast_columns"]

_FLOAT32_MAX = 3.4028234663852886e38


def _first_bad(column: pa.ChunkedArray | pa.Array, ok: pa.ChunkedArray | pa.Array) -> int:
    """The index of the first row where ``ok`` is false (nulls in ``ok`` count as bad)."""
    bad = pc.invert(pc.fill_null(ok, False))
    indices = pc.indices_nonzero(bad.combine_chunks() if isinstance(bad, pa.ChunkedArray) else bad)
    return int(indices[0].as_py()) if len(indices) else -1


def _shown(value: object) -> str:
    """``value`` as written in a message, cut to 60 characters."""
    return repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."


def _refuse(what: str, name: str, row: int, value: object, dtype: pa.DataType, why: str) -> None:
    raise SchemaError(
        f"{what}: column {name!r} row {row} holds {_shown(value)}, which is not a {dtype} value "
        f"({why}); fix that row or declare the field with a wider type"
    )


def _numbers(
    column: pa.ChunkedArray | pa.Array, dtype: pa.DataType, name: str, what: str
) -> pa.ChunkedArray | pa.Array:
    src = column.type
    if pa.types.is_string(src) or pa.types.is_large_string(src):
        stripped = pc.utf8_trim_whitespace(column)
        texts = stripped.to_pylist()
        for i, text in enumerate(texts):
            if text is None:
                continue
            try:
                float(text)
            except ValueError:
                _refuse(what, name, i, text, dtype, "not a number")
        digits = all(t is None or t.lstrip("+-").isdigit() for t in texts)
        parsed = pc.cast(
            stripped, pa.int64() if pa.types.is_integer(dtype) and digits else pa.float64()
        )
        return _numbers(parsed, dtype, name, what)
    if pa.types.is_boolean(src):
        return column.cast(dtype)
    if pa.types.is_floating(dtype):
        if pa.types.is_floating(src):
            if dtype.bit_width < src.bit_width:
                finite_in = pc.is_finite(column)
                big = pc.and_(finite_in, pc.greater(pc.abs(column), _FLOAT32_MAX))
                if pc.any(big).as_py():
                    row = _first_bad(column, pc.invert(big))
                    _refuse(what, name, row, column[row].as_py(), dtype, "beyond float32's range")
            return column.cast(dtype, safe=False)
        try:
            return column.cast(dtype)
        except pa.ArrowInvalid:
            exact = pc.equal(pc.cast(pc.cast(column, dtype, safe=False), src, safe=False), column)
            row = _first_bad(column, exact)
            _refuse(what, name, row, column[row].as_py(), dtype, "it would be rounded")
    if pa.types.is_integer(dtype):
        info = _int_range(dtype)
        if pa.types.is_floating(src):
            finite = pc.is_finite(column)
            whole = pc.and_(finite, pc.equal(pc.floor(column), column))
            row = _first_bad(column, pc.or_kleene(whole, pc.is_null(column)))
            if row >= 0:
                value = column[row].as_py()
                why = "not a whole number" if math.isfinite(value) else "not finite"
                _refuse(what, name, row, value, dtype, why)
        low, high = info
        try:
            return column.cast(dtype)
        except (pa.ArrowInvalid, OverflowError):
            pass
        for row, value in enumerate(column.to_pylist()):
            if value is not None and not low <= value <= high:
                _refuse(what, name, row, value, dtype, f"outside {low} to {high}")
        return column.cast(dtype, safe=False)
    return column.cast(dtype)


def _int_range(dtype: pa.DataType) -> tuple[int, int]:
    bits = dtype.bit_width
    if pa.types.is_signed_integer(dtype):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _is_numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def cast_column(
    column: pa.ChunkedArray | pa.Array, dtype: pa.DataType, *, name: str, what: str
) -> pa.ChunkedArray | pa.Array:
    """``column`` as ``dtype`` when no value changes; else ``SchemaError`` naming the row."""
    src = column.type
    if pa.types.is_dictionary(src):
        column = column.cast(src.value_type)
        src = column.type
    if src == dtype or pa.types.is_null(src):
        return column if src == dtype else column.cast(dtype)
    if pa.types.is_timestamp(dtype):
        if pa.types.is_timestamp(src) or pa.types.is_date(src):
            utc = as_utc_timestamps(column, name=name)
            return utc if dtype.tz is not None else utc.cast(pa.timestamp(dtype.unit))
        if pa.types.is_string(src) or pa.types.is_large_string(src):
            return cast_column(_parse_times(column, name, what), dtype, name=name, what=what)
    if _is_numeric(dtype) and (
        _is_numeric(src)
        or pa.types.is_string(src)
        or pa.types.is_large_string(src)
        or pa.types.is_boolean(src)
    ):
        return _numbers(column, dtype, name, what)
    target_nested = pa.types.is_map(dtype) or pa.types.is_struct(dtype)
    if target_nested and (pa.types.is_string(src) or pa.types.is_large_string(src)):
        return _objects(_parse_objects(column, dtype, name, what), dtype, name, what)
    if target_nested and (pa.types.is_struct(src) or pa.types.is_map(src) or pa.types.is_list(src)):
        # Arrow's struct cast drops fields the target lacks; those rows are checked instead
        dropped = (
            pa.types.is_struct(src)
            and pa.types.is_struct(dtype)
            and any(dtype.get_field_index(f.name) < 0 for f in src)
        )
        if not dropped:
            try:
                return column.cast(dtype)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass
        values = column.to_pylist()
        if pa.types.is_map(dtype) and pa.types.is_struct(src):
            # pandas makes structs of dicts; a map keeps only the keys each row has
            values = [
                None if v is None else {k: x for k, x in v.items() if x is not None} for v in values
            ]
        return _objects(values, dtype, name, what)
    try:
        return column.cast(dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise SchemaError(
            f"{what}: column {name!r} holds {src} values, which do not fit {dtype} ({e}); "
            "send values of the declared type"
        ) from e


def _wanted(dtype: pa.DataType) -> str:
    """What a row of a ``Map`` or ``Struct`` column must hold, in a user's words."""
    if pa.types.is_map(dtype):
        return 'an object of text keys to text values, such as {"key": "value"}'
    fields = ", ".join(f"{f.name} ({from_arrow(f.type)})" for f in dtype)
    return f"an object with the fields {fields}"


def _parse_objects(
    column: pa.ChunkedArray | pa.Array, dtype: pa.DataType, name: str, what: str
) -> list[object]:
    """JSON text (what Feast's SDK sends for ``Map`` and ``Struct``) parsed row by row."""
    values: list[object] = []
    for row, text in enumerate(column.to_pylist()):
        if text is None:
            values.append(None)
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not isinstance(value, dict):
            raise SchemaError(
                f"{what}: column {name!r} row {row} holds {_shown(text)}, which is not the "
                f"JSON text of an object; send {_wanted(dtype)} (as an object or its JSON text)"
            )
        values.append(value)
    return values


def _objects(values: list[object], dtype: pa.DataType, name: str, what: str) -> pa.Array:
    """Dicts (or nulls) as a ``Map`` or ``Struct`` column, refusing any row that does not fit."""
    known = {f.name for f in dtype} if pa.types.is_struct(dtype) else None
    for row, value in enumerate(values):
        if known is not None and isinstance(value, dict):
            extra = sorted(k for k, v in value.items() if k not in known and v is not None)
            if extra:
                raise SchemaError(
                    f"{what}: column {name!r} row {row} holds the field(s) {', '.join(extra)}, "
                    f"which {from_arrow(dtype)} does not have; send {_wanted(dtype)}"
                )
    try:
        return pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    for row, value in enumerate(values):
        try:
            pa.array([value], type=dtype)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            raise SchemaError(
                f"{what}: column {name!r} row {row} holds {_shown(value)}, which does not fit "
                f"{from_arrow(dtype)}; send {_wanted(dtype)}"
            ) from None
    raise SchemaError(f"{what}: column {name!r} does not fit {from_arrow(dtype)}")


def _parse_times(column: pa.ChunkedArray | pa.Array, name: str, what: str) -> pa.Array:
    """ISO-8601 strings as UTC timestamps: naive ones are UTC, offsets are honoured."""
    texts = column.to_pylist()
    naive = pa.timestamp("us")
    try:
        return pc.assume_timezone(pa.array(texts).cast(naive), "UTC")
    except pa.ArrowInvalid:
        pass
    try:
        return pa.array(texts).cast(pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        pass
    out: list[int | None] = []
    for i, text in enumerate(texts):
        if text is None:
            out.append(None)
            continue
        for t in (naive, pa.timestamp("us", tz="UTC")):
            try:
                scalar = pa.array([text]).cast(t)
            except pa.ArrowInvalid:
                continue
            out.append(scalar.cast(pa.int64())[0].as_py())
            break
        else:
            raise SchemaError(
                f"{what}: column {name!r} row {i} holds {text!r}, which is not an ISO-8601 "
                "time (YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH:MM]); fix that row"
            )
    return pa.array(out, pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def cast_columns(data: pa.Table, fields: Iterable[pa.Field], *, what: str) -> pa.Table:
    """``data`` with each column named in ``fields`` cast to that field's type (others kept)."""
    for f in fields:
        i = data.schema.get_field_index(f.name)
        if i < 0 or data.schema.field(i).type == f.type:
            continue
        cast = cast_column(data.column(i), f.type, name=f.name, what=what)
        data = data.set_column(i, pa.field(f.name, cast.type), cast)
    return data
