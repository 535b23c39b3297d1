"""Entity keys checked against their join keys' declared types, before they are encoded.

An integer key (``Int32``, ``Int64``) takes whole numbers of its width only: a boolean
is not an integer, and a float is refused even when its value is whole (``5.0``; Feast's
server converts it), because a whole float is most often an integer column that went
through floats, and naming another entity silently is worse than a refusal. At lookup, a
whole number written as text (``"1001"``) is read as that integer, as Feast's server
reads it; any other text is refused. A ``String``
key takes strings, a ``Bytes`` key bytes. A join key whose type is unknown takes any
integer that fits in 64 bits, string or bytes. Nulls are refused everywhere: every entity
needs a key. Every refusal is a ``ValidationError`` naming the key, the row and the value.

A feature view without entities holds one global row per time; online it is stored
under one key, Feast's ``__dummy_id = ""`` (``GLOBAL_KEY``), which every entity row reads.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.errors import SchemaError, ValidationError
from featurestore.frames import check_times

if TYPE_CHECKING:
    from featurestore.definitions import FeatureView

__all__ = [
    "GLOBAL_KEY",
    "cast_key_strings",
    "check_key_column",
    "check_key_values",
    "check_rows",
    "encode_key_columns",
    "global_keys",
    "key_types",
]

GLOBAL_KEY = "__dummy_id"
"""The online key name of a view without entities (Feast's), with the value ``""``."""


def global_keys(n: int) -> list[bytes]:
    """The stored key of a view without entities, once for each of ``n`` rows."""
    import online

    return [online.encode_entity_key([GLOBAL_KEY], [""])] * n


def encode_key_columns(
    names: Sequence[str], columns: Sequence[pa.Array | pa.ChunkedArray], n: int
) -> list[bytes]:
    """The stored key of each of ``n`` rows; the global key when there are no join keys."""
    import online

    if not names:
        return global_keys(n)
    return online.encode_entity_keys(list(names), list(columns))


_RANGES = {pa.int32(): (-(2**31), 2**31 - 1), pa.int64(): (-(2**63), 2**63 - 1)}
_ANY_INT = (-(2**63), 2**63 - 1)


def key_types(fields: Iterable[tuple[str, pa.DataType]]) -> dict[str, pa.DataType | None]:
    """Join key -> its declared Arrow type; None where views declare it differently."""
    out: dict[str, pa.DataType | None] = {}
    for name, dtype in fields:
        if name in out and out[name] != dtype:
            out[name] = None
        else:
            out.setdefault(name, dtype)
    return out


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, int):
        return "an integer"
    return f"a {type(value).__name__}"


def _expected(dtype: pa.DataType | None) -> str:
    if dtype is None:
        return "an integer, a string or bytes"
    if pa.types.is_integer(dtype):
        return f"a whole number as an integer (not a float or boolean) of {_type_name(dtype)}"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytes"
    return "a string"


def _refuse(name: str, row: int, value: object, dtype: pa.DataType | None) -> ValidationError:
    declared = f" of type {_type_name(dtype)}" if dtype is not None else ""
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return ValidationError(
        f"join key {name!r}{declared}: entity row {row} has {shown} ({_describe(value)}); "
        f"pass {_expected(dtype)}"
    )


def _type_name(dtype: pa.DataType) -> str:
    names = {
        pa.int32(): "Int32",
        pa.int64(): "Int64",
        pa.string(): "String",
        pa.large_string(): "String",
        pa.binary(): "Bytes",
        pa.large_binary(): "Bytes",
    }
    return names.get(dtype, str(dtype))


def _as_int(value: object) -> int | None:
    """``value`` as an int if it is an integer (numpy integers too), not a bool."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        return None
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return None
    return operator.index(value)  # type: ignore[call-overload, no-any-return]


def cast_key_strings(name: str, values: Sequence[Any], dtype: pa.DataType | None) -> Sequence[Any]:
    """Whole numbers written as text (``"1001"``) as ints for an integer key, as Feast's
    server reads them; ``values`` itself when there is nothing to cast. Other strings are
    left for ``check_key_values`` to refuse."""
    if dtype is None or not pa.types.is_integer(dtype) or not any(type(v) is str for v in values):
        return values
    out: list[Any] = []
    for value in values:
        if type(value) is str:
            text = value.strip()
            if text.lstrip("+-").isdigit() and text.count("-") + text.count("+") <= 1:
                value = int(text)
        out.append(value)
    return out


def check_key_values(name: str, values: Sequence[Any], dtype: pa.DataType | None) -> None:
    """Refuse Python values of join key ``name`` that are not keys of type ``dtype``."""
    if dtype is not None and pa.types.is_integer(dtype):
        low, high = _RANGES.get(dtype, _ANY_INT)
        plain = all(type(v) is int for v in values)
        if plain and values and low <= min(values) and max(values) <= high:
            return
        for row, value in enumerate(values):
            if value is None:
                raise ValidationError(
                    f"join key {name!r} has a null value in entity row {row}; give every "
                    "entity a key"
                )
            if isinstance(value, pa.Scalar):
                value = value.as_py()
            number = _as_int(value)
            if number is None:
                raise _refuse(name, row, value, dtype)
            if not low <= number <= high:
                raise ValidationError(
                    f"join key {name!r} of type {_type_name(dtype)}: entity row {row} has "
                    f"{_short(number)}, outside {_type_name(dtype)} ({low} to {high}); no "
                    "entity has that key"
                )
        return
    wanted: tuple[type, ...]
    if dtype is None:
        wanted = (str, bytes)
    elif pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        wanted = (bytes,)
    else:
        wanted = (str,)
    for row, value in enumerate(values):
        if type(value) in wanted:
            continue
        if value is None:
            raise ValidationError(
                f"join key {name!r} has a null value in entity row {row}; give every entity a key"
            )
        if isinstance(value, pa.Scalar):
            value = value.as_py()
            if type(value) in wanted:
                continue
        if dtype is None:
            number = _as_int(value)
            if number is not None and _ANY_INT[0] <= number <= _ANY_INT[1]:
                continue
            if number is not None:
                raise ValidationError(
                    f"join key {name!r}: entity row {row} has {_short(number)}, which does not "
                    "fit in 64 bits; no entity has that key"
                )
        raise _refuse(name, row, value, dtype)


def _short(number: int) -> str:
    text = str(number)
    return text if len(text) <= 30 else f"{text[:12]}...({len(text)} digits)"


def check_key_column(
    name: str, column: pa.Array | pa.ChunkedArray, dtype: pa.DataType | None, what: str
) -> None:
    """Refuse (``SchemaError``) a join key column that does not hold keys of type ``dtype``."""
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if column.null_count:
        raise SchemaError(
            f"{what}: join key column {name!r} has {column.null_count} null value(s); every "
            "row needs a key: drop or fill those rows"
        )
    integer = dtype is not None and pa.types.is_integer(dtype)
    if integer or (dtype is None and pa.types.is_integer(t)):
        if not pa.types.is_integer(t):
            raise SchemaError(
                f"{what}: join key column {name!r} holds {t} values; it is "
                f"{_type_name(dtype) if dtype is not None else 'an integer key'}: pass whole "
                "numbers as an integer column (not floats or booleans)"
            )
        low, high = _RANGES.get(dtype, _ANY_INT) if dtype is not None else _ANY_INT
        if len(column):
            bounds = pc.min_max(column)
            lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
            if lo < low or hi > high:
                bad = lo if lo < low else hi
                raise SchemaError(
                    f"{what}: join key column {name!r} holds {bad}, outside "
                    f"{_type_name(dtype) if dtype is not None else 'int64'} ({low} to {high})"
                )
        return
    strings = pa.types.is_string(t) or pa.types.is_large_string(t)
    binary = pa.types.is_binary(t) or pa.types.is_large_binary(t)
    if dtype is None:
        ok = strings or binary
    elif pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        ok = binary
    else:
        ok = strings
    if not ok:
        raise SchemaError(
            f"{what}: join key column {name!r} holds {t} values; pass {_expected(dtype)} "
            "for each row"
        )


def check_rows(
    data: pa.Table, views: Iterable[FeatureView], table: str, what: str, *, typed: bool
) -> None:
    """Refuse rows for ``table`` that no view reading it could serve.

    Every join key and event time column present must be free of nulls, and every
    event or created time must lie in the years 1-9999. With ``typed`` the join key
    columns must also hold their declared types (pushes, which are encoded for the
    online store before the table checks them); otherwise the table's schema check
    decides on types.
    """
    readers = [v for v in views if v.source.table == table]
    types = key_types((f.name, f.dtype.to_arrow()) for v in readers for f in v.entity_columns)
    for v in readers:
        for key in v.join_keys:
            types.setdefault(key, None)
    names = set(data.schema.names)
    for key, dtype in types.items():
        if key not in names:
            continue
        column = data.column(key)
        if typed:
            check_key_column(key, column, dtype, what)
        elif column.null_count:
            raise SchemaError(
                f"{what}: join key column {key!r} has {column.null_count} null value(s); "
                "every row needs a key: drop or fill those rows"
            )
    times = {v.source.timestamp_field: False for v in readers}
    for v in readers:
        created = v.source.created_timestamp_column
        if created and created not in times:
            times[created] = True
    for column_name, nulls in times.items():
        if column_name in names:
            check_times(data.column(column_name), name=column_name, what=what, nulls=nulls)
