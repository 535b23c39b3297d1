"""Entity-key encoding: the same entity gives the same bytes whatever its integer width.

Layout, for each (name, value) pair sorted by name:
``varint(len(name)) name tag payload`` where tag ``i`` is followed by the value as an
8-byte big-endian signed integer, ``s`` by ``varint(len) utf8`` and ``b`` by
``varint(len) bytes``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from online.errors import InvalidInputError, UnsupportedTypeError

__all__ = ["encode_entity_key", "encode_entity_keys", "varint"]

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


def varint(n: int) -> bytes:
    """Unsigned LEB128 encoding of a non-negative integer."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _name_prefix(name: str) -> bytes:
    raw = name.encode()
    return varint(len(raw)) + raw


def _check_names(names: Sequence[str], count: int) -> list[int]:
    if len(names) != count:
        raise InvalidInputError(
            f"got {len(names)} entity key names but {count} values; pass one value per name"
        )
    if not names:
        raise InvalidInputError("an entity key needs at least one (name, value) pair")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"entity key names repeat: {list(names)}; give each name once")
    return sorted(range(len(names)), key=lambda i: names[i])


def _encode_value(name: str, value: object) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        return b"s" + varint(len(raw)) + raw
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return b"b" + varint(len(raw)) + raw
    if isinstance(value, bool) or value is None:
        raise UnsupportedTypeError(
            f"entity key {name!r} is {value!r}; use an integer, string or bytes value"
        )
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UnsupportedTypeError(
            f"entity key {name!r} has a {type(value).__name__} value {value!r}; "
            "use an integer, string or bytes value"
        ) from None
    if not _INT_MIN <= number <= _INT_MAX:
        raise InvalidInputError(f"entity key {name!r} = {number} does not fit in 64 bits")
    return b"i" + number.to_bytes(8, "big", signed=True)


def encode_entity_key(names: Sequence[str], values: Sequence[object]) -> bytes:
    """Encode one entity key (e.g. ``(["driver_id"], [1001])``) to its stored bytes."""
    order = _check_names(names, len(values))
    return b"".join(_name_prefix(names[i]) + _encode_value(names[i], values[i]) for i in order)


def _varints(lengths: np.ndarray) -> pa.Array:
    uniq, inverse = np.unique(lengths, return_inverse=True)
    table = pa.array([varint(int(u)) for u in uniq], pa.binary())
    return table.take(pa.array(inverse.astype(np.int64)))


def _column_parts(name: str, column: pa.Array | pa.ChunkedArray) -> list[pa.Array | pa.Scalar]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if column.null_count:
        raise InvalidInputError(
            f"entity key column {name!r} has {column.null_count} null values; "
            "drop or fill those rows first"
        )
    prefix = _name_prefix(name)
    t = column.type
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t) and len(column) and pc.max(column).as_py() > _INT_MAX:
            raise InvalidInputError(f"entity key column {name!r} has values above 2**63-1")
        ints = column.cast(pa.int64()).to_numpy().astype(">i8")
        fixed = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(8), len(ints), [None, pa.py_buffer(ints.tobytes())]
        )
        return [pa.scalar(prefix + b"i", pa.binary()), fixed.cast(pa.binary())]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        tag, raw = b"s", column.cast(pa.binary())
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        tag, raw = b"b", column.cast(pa.binary())
    else:
        raise UnsupportedTypeError(
            f"entity key column {name!r} has type {t}; use an integer, string or binary column"
        )
    lengths = pc.binary_length(raw).to_numpy()
    return [pa.scalar(prefix + tag, pa.binary()), _varints(lengths), raw]


def encode_entity_keys(
    names: Sequence[str], columns: Sequence[pa.Array | pa.ChunkedArray]
) -> list[bytes]:
    """Encode many entity keys at once, one per row; equal to `encode_entity_key` per row."""
    order = _check_names(names, len(columns))
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise InvalidInputError(f"entity key columns have different lengths {sorted(lengths)}")
    parts: list[pa.Array | pa.Scalar] = []
    for i in order:
        parts.extend(_column_parts(names[i], columns[i]))
    parts.append(pa.scalar(b"", pa.binary()))
    joined = pc.binary_join_element_wise(*parts)
    return joined.to_pylist()  # type: ignore[no-any-return]
