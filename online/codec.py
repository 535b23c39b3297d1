"""Compact binary encoding of Arrow column values, one bytes payload per value.

Integers are stored as 8-byte little-endian int64 (uint64 as uint64), floats as 8-byte
float64, booleans as one byte, temporal types as their int64 count in the column's own
unit, strings as UTF-8 and binary as is. A list is a run of elements, each ``0x00`` for
null or ``0x01 varint(len) payload``; a struct is its fields' payloads in field order,
each framed the same way; a map is a list of (key, value) structs. Encoding is
vectorized with Arrow and NumPy: no Python work per value except for lists, structs
and maps. Python values of maps are dicts (as Feast returns them).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from online.errors import DecodeError, UnsupportedTypeError
from online.keys import varint

__all__ = ["PythonDecoder", "TableDecoder", "check_type", "decode_column", "encode_column"]

_EMPTY = pa.scalar(b"", pa.large_binary())


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return "uint64"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_temporal(t) and not pa.types.is_interval(t):
        return "temporal"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_map(t):
        return "map"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "list"
    if pa.types.is_struct(t):
        return "struct"
    raise UnsupportedTypeError(
        f"the online store cannot encode Arrow type {t}; use integers, floats, booleans, "
        "strings, binary, dates, times, timestamps, durations, or lists, structs and maps "
        "of those"
    )


def check_type(t: pa.DataType) -> None:
    """Raise `UnsupportedTypeError` unless values of type `t` can be stored."""
    kind = _kind(t)
    if kind == "list":
        check_type(t.value_type)
    elif kind == "map":
        check_type(t.key_type)
        check_type(t.item_type)
    elif kind == "struct":
        for i in range(t.num_fields):
            check_type(t.field(i).type)


def _fixed(data: np.ndarray) -> pa.Array:
    width = data.dtype.itemsize
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(data), [None, pa.py_buffer(np.ascontiguousarray(data).tobytes())]
    )
    return fixed.cast(pa.large_binary())


def _temporal_int64(arr: pa.Array) -> pa.Array:
    storage = pa.int32() if arr.type.bit_width == 32 else pa.int64()
    return arr.view(storage).cast(pa.int64())


def encode_column(arr: pa.Array) -> pa.Array:
    """Payload per value as a large_binary array; a null value gives a null payload."""
    kind = _kind(arr.type)
    if kind in ("string", "binary"):
        return arr.cast(pa.large_binary())
    if kind in ("list", "map"):
        return _encode_list(arr)
    if kind == "struct":
        return _encode_struct(arr)
    if kind == "bool":
        data = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
    elif kind == "uint64":
        data = arr.fill_null(0).to_numpy().astype("<u8")
    elif kind == "int":
        data = arr.fill_null(0).cast(pa.int64()).to_numpy().astype("<i8")
    elif kind == "float":
        data = arr.cast(pa.float64()).fill_null(0.0).to_numpy().astype("<f8")
    else:
        data = _temporal_int64(arr).fill_null(0).to_numpy().astype("<i8")
    out = _fixed(data)
    if arr.null_count:
        out = pc.if_else(arr.is_valid(), out, pa.scalar(None, pa.large_binary()))
    return out


def _encode_list(arr: pa.Array) -> pa.Array:
    if not isinstance(arr, pa.ListArray | pa.LargeListArray):
        raise UnsupportedTypeError(f"type {arr.type} is not supported; cast it to a list type")
    offsets = arr.offsets.to_numpy()
    children = encode_column(arr.values).to_pylist()
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    out: list[bytes | None] = []
    for i in range(len(arr)):
        if not valid[i]:
            out.append(None)
            continue
        out.append(_framed(children[offsets[i] : offsets[i + 1]]))
    return pa.array(out, pa.large_binary())


def _framed(values: Iterable[bytes | None]) -> bytes:
    """Encoded values one after another: ``0`` for a null, else ``1``, a length, the bytes."""
    return b"".join(b"\x00" if v is None else b"\x01" + varint(len(v)) + v for v in values)


def _encode_struct(arr: pa.Array) -> pa.Array:
    children = [encode_column(c).to_pylist() for c in arr.flatten()]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    out: list[bytes | None] = []
    for i in range(len(arr)):
        if not valid[i]:
            out.append(None)
            continue
        out.append(_framed(c[i] for c in children))
    return pa.array(out, pa.large_binary())


def _frames(name: str, v: bytes) -> list[bytes | None]:
    """The framed payloads of one list, struct or map value."""
    out: list[bytes | None] = []
    pos = 0
    try:
        while pos < len(v):
            if v[pos] == 0:
                out.append(None)
                pos += 1
                continue
            size, pos = _read_varint(v, pos + 1)
            if pos + size > len(v):
                raise IndexError(pos + size)
            out.append(v[pos : pos + size])
            pos += size
    except IndexError as e:
        raise DecodeError(f"stored values of column {name!r} are truncated; rewrite them") from e
    return out


def _decode_struct(name: str, values: Sequence[bytes | None], t: pa.DataType) -> pa.Array:
    width = t.num_fields
    columns: list[list[bytes | None]] = [[] for _ in range(width)]
    mask = []
    for v in values:
        mask.append(v is None)
        frames = [None] * width if v is None else _frames(name, v)
        if len(frames) != width:
            raise DecodeError(
                f"stored values of column {name!r} have {len(frames)} fields, not the "
                f"{width} of {t}; read the column with the type it was written with"
            )
        for i, frame in enumerate(frames):
            columns[i].append(frame)
    children = [decode_column(name, columns[i], t.field(i).type) for i in range(width)]
    return pa.StructArray.from_arrays(
        children, fields=list(t), mask=pa.array(mask, pa.bool_()) if any(mask) else None
    )


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _decode_fixed(
    name: str, values: Sequence[bytes | None], width: int, dtype: str, t: pa.DataType
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    if None in values:
        zero = bytes(width)
        mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        buf = b"".join(zero if v is None else v for v in values)
    else:
        mask = np.zeros(0, dtype=bool)
        buf = b"".join(values)  # type: ignore[arg-type]
    if len(buf) != width * len(values):
        raise DecodeError(
            f"stored values of column {name!r} do not have {width} bytes each as {t} needs; "
            "it was written with another type: rewrite it or read it with its written type"
        )
    return np.frombuffer(buf, dtype=dtype), mask


def decode_column(name: str, values: Sequence[bytes | None], t: pa.DataType) -> pa.Array:
    """Build an Arrow array of type `t` from stored payloads (None = null)."""
    kind = _kind(t)
    if kind in ("string", "binary"):
        try:
            return pa.array(values, t)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise DecodeError(
                f"stored values of column {name!r} are not valid {t}: {e}; "
                "read the column with the type it was written with"
            ) from e
    if kind == "list":
        return _decode_list(name, values, t)
    if kind == "map":
        entries = pa.struct([pa.field("key", t.key_type, nullable=False), t.item_field])
        lists = _decode_list(name, values, pa.list_(pa.field("entries", entries, nullable=False)))
        return pa.MapArray.from_arrays(
            lists.offsets,
            lists.values.field(0),
            lists.values.field(1),
            type=t,
            mask=lists.is_null() if lists.null_count else None,
        )
    if kind == "struct":
        return _decode_struct(name, values, t)
    width, dtype = {"bool": (1, "u1"), "uint64": (8, "<u8"), "float": (8, "<f8")}.get(
        kind, (8, "<i8")
    )
    data, mask = _decode_fixed(name, values, width, dtype, t)
    m = mask if mask.size else None
    if kind == "bool":
        return pa.array(data.astype(bool), pa.bool_(), mask=m)
    if kind == "temporal":
        storage = pa.int32() if t.bit_width == 32 else pa.int64()
        np_storage = np.int32 if t.bit_width == 32 else np.int64
        return pa.array(data.astype(np_storage, copy=False), storage, mask=m).view(t)
    return pa.array(data.astype(t.to_pandas_dtype(), copy=False), t, mask=m)


def _decode_list(name: str, values: Sequence[bytes | None], t: pa.DataType) -> pa.Array:
    offsets = [0]
    children: list[bytes | None] = []
    mask = []
    for v in values:
        mask.append(v is None)
        pos = 0
        if v is not None:
            while pos < len(v):
                if v[pos] == 0:
                    children.append(None)
                    pos += 1
                    continue
                size, pos = _read_varint(v, pos + 1)
                children.append(v[pos : pos + size])
                pos += size
        offsets.append(len(children))
    child = decode_column(name, children, t.value_type)
    cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
    off_type = pa.int64() if pa.types.is_large_list(t) else pa.int32()
    arr = cls.from_arrays(
        pa.array(offsets, off_type), child, type=t, mask=pa.array(mask, pa.bool_())
    )
    return arr


class TableDecoder:
    """Decodes the payloads of a fixed set of columns, one Arrow call per type, not per column.

    Columns of the same type are decoded as one run and sliced apart, which keeps a
    lookup of one row across many columns cheap.
    """

    def __init__(self, schema: pa.Schema) -> None:
        for field in schema:
            check_type(field.type)
        self.schema = schema
        groups: dict[pa.DataType, list[int]] = {}
        for i, field in enumerate(schema):
            groups.setdefault(field.type, []).append(i)
        self._groups = [
            (t, ", ".join(schema.names[i] for i in idx), idx) for t, idx in groups.items()
        ]

    def decode(self, columns: Sequence[Sequence[bytes | None]], rows: int) -> list[pa.Array]:
        """One array per schema field, from `columns[i]` = the payloads of field i."""
        out: list[pa.Array] = [None] * len(self.schema)  # type: ignore[list-item]
        for t, names, idx in self._groups:
            if len(idx) == 1:
                out[idx[0]] = decode_column(names, columns[idx[0]], t)
                continue
            fused = decode_column(names, [v for i in idx for v in columns[i]], t)
            for pos, i in enumerate(idx):
                out[i] = fused.slice(pos * rows, rows)
        return out


_F64 = struct.Struct("<d").unpack
_I64 = struct.Struct("<q").unpack
_U64 = struct.Struct("<Q").unpack


_F32 = struct.Struct("<f")
_STRUCT_CODES = {"float": "d", "int": "q", "uint64": "Q"}
"""Struct codes of the kinds stored as 8 bytes that decode straight to a Python number."""


def _float32(v: bytes) -> float:
    x: float = _F64(v)[0]
    try:
        return _F32.unpack(_F32.pack(x))[0]  # type: ignore[no-any-return]
    except OverflowError:
        return math.copysign(math.inf, x)


def _bool(v: bytes) -> bool:
    if len(v) != 1:
        raise struct.error("a boolean is one byte")
    return v[0] != 0


def _string(v: bytes) -> str:
    return v.decode()


def _python_decoder(t: pa.DataType) -> Callable[[bytes], Any] | None:
    kind = _kind(t)
    if kind == "float" and t.bit_width == 32:
        return _float32
    if kind == "float" and t.bit_width == 64:
        return lambda v: _F64(v)[0]
    if kind == "int":
        return lambda v: _I64(v)[0]
    if kind == "uint64":
        return lambda v: _U64(v)[0]
    if kind == "bool":
        return _bool
    if kind == "string":
        return _string
    if kind == "binary":
        return bytes
    return None


class PythonDecoder:
    """Decodes payloads straight to Python values, equal to the Arrow path's ``to_pylist``.

    For a few rows this skips building Arrow arrays; types without a direct decoder
    (temporal, lists) go through Arrow column by column.
    """

    def __init__(self, schema: pa.Schema) -> None:
        for field in schema:
            check_type(field.type)
        self.schema = schema
        self._fields = [(f.name, f.type, _python_decoder(f.type)) for f in schema]
        self.names = tuple(schema.names)
        codes = [_STRUCT_CODES.get(_kind(f.type)) for f in schema]
        fixed = (
            bool(codes)
            and all(codes)
            and not any(_kind(f.type) == "float" and f.type.bit_width != 64 for f in schema)
        )
        self._codes = "".join(codes) if fixed else None  # type: ignore[arg-type]
        self._row = struct.Struct("<" + self._codes) if self._codes else None

    def decode_row(self, row: Sequence[bytes | None], skip: int) -> Sequence[Any]:
        """The values of one row whose field payloads start at ``row[skip]``."""
        if self._row is not None:
            payloads = row[skip:]
            if None not in payloads:
                buf = b"".join(payloads)  # type: ignore[arg-type]
                if len(buf) == self._row.size and max(map(len, payloads)) == 8:  # type: ignore[arg-type]
                    return self._row.unpack(buf)
        return [column[0] for column in self.decode_rows([row], skip)]

    def decode_rows(self, rows: Sequence[Sequence[bytes | None]], skip: int) -> list[list[Any]]:
        """One value list per field, from rows whose field payloads start at ``rows[i][skip]``.

        When every field is an 8-byte number and no payload is null, all payloads are
        decoded by one ``struct.unpack``; otherwise column by column as `decode`.
        """
        n = len(rows)
        codes = self._codes
        if codes is not None and n:
            if n == 1:
                payloads = rows[0][skip:]
                row = self._row
            else:
                payloads = [v for r in rows for v in r[skip:]]
                row = None
            if None not in payloads:
                buf = b"".join(payloads)  # type: ignore[arg-type]
                if len(buf) == 8 * len(payloads) and max(map(len, payloads)) == 8:  # type: ignore[arg-type]
                    if row is not None:
                        return [[v] for v in row.unpack(buf)]
                    flat = struct.unpack("<" + codes * n, buf)
                    width = len(codes)
                    return [list(flat[i::width]) for i in range(width)]
        columns = list(zip(*rows, strict=True))[skip:] if rows else [()] * len(self._fields)
        decoded = self.decode(columns)
        return [decoded[name] for name in self.names]

    def decode(self, columns: Sequence[Sequence[bytes | None]]) -> dict[str, list[Any]]:
        """Column name -> values, from `columns[i]` = the payloads of field i."""
        out: dict[str, list[Any]] = {}
        for (name, t, fn), values in zip(self._fields, columns, strict=True):
            if fn is None:
                decoded = decode_column(name, values, t).to_pylist()
                if pa.types.is_map(t):
                    decoded = [None if v is None else dict(v) for v in decoded]
                out[name] = decoded
                continue
            try:
                out[name] = [None if v is None else fn(v) for v in values]
            except (struct.error, UnicodeDecodeError) as e:
                raise DecodeError(
                    f"stored values of column {name!r} are not valid {t}: {e}; "
                    "read the column with the type it was written with"
                ) from e
        return out
