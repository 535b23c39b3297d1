"""Feature value types and their Arrow equivalents.

Each type has a stable string form used in serialized definitions: ``"Int64"``,
``"UnixTimestamp"``, ``"Array(Float32)"``. ``UnixTimestamp`` is Arrow's
``timestamp[us, tz=UTC]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from featurestore.errors import DefinitionError

__all__ = [
    "Array",
    "ArrayType",
    "Bool",
    "Bytes",
    "DataType",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "PrimitiveType",
    "String",
    "UnixTimestamp",
    "from_arrow",
    "parse_type",
]


class DataType:
    """A feature value type: a primitive or an ``Array`` of one."""

    def to_arrow(self) -> pa.DataType:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class PrimitiveType(DataType):
    """A scalar type such as ``Int64`` or ``String``."""

    name: str

    def to_arrow(self) -> pa.DataType:
        return _PRIMITIVE_ARROW[self.name]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ArrayType(DataType):
    """A list of values of one primitive type."""

    inner: DataType

    def __post_init__(self) -> None:
        if not isinstance(self.inner, PrimitiveType):
            raise DefinitionError(
                f"Array({self.inner!r}): the element type must be a primitive type such as "
                "Int64 or String (arrays of arrays are not supported)"
            )

    def to_arrow(self) -> pa.DataType:
        return pa.list_(self.inner.to_arrow())

    def __str__(self) -> str:
        return f"Array({self.inner})"

    def __repr__(self) -> str:
        return str(self)


Int32: Final = PrimitiveType("Int32")
Int64: Final = PrimitiveType("Int64")
Float32: Final = PrimitiveType("Float32")
Float64: Final = PrimitiveType("Float64")
String: Final = PrimitiveType("String")
Bool: Final = PrimitiveType("Bool")
Bytes: Final = PrimitiveType("Bytes")
UnixTimestamp: Final = PrimitiveType("UnixTimestamp")

_PRIMITIVE_ARROW: Final[dict[str, pa.DataType]] = {
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "String": pa.string(),
    "Bool": pa.bool_(),
    "Bytes": pa.binary(),
    "UnixTimestamp": pa.timestamp("us", tz="UTC"),
}
_PRIMITIVES: Final[dict[str, PrimitiveType]] = {
    t.name: t for t in (Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp)
}


def Array(inner: DataType) -> ArrayType:
    """The type of a list of ``inner`` values, e.g. ``Array(Float32)``."""
    return ArrayType(inner)


def from_arrow(arrow_type: pa.DataType) -> DataType:
    """The feature type of an Arrow type; raises DefinitionError when none fits.

    Narrower or equivalent Arrow types map to the nearest feature type: int8/int16 and
    unsigned ints up to 16 bits are Int32, uint32 is Int64, large strings are String,
    any timestamp unit or zone (naive means UTC) is UnixTimestamp.
    """
    t = arrow_type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return ArrayType(from_arrow(t.value_type))
    if pa.types.is_timestamp(t):
        return UnixTimestamp
    if pa.types.is_int32(t) or pa.types.is_int16(t) or pa.types.is_int8(t):
        return Int32
    if pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return Int32
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return Int64
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return Float32
    if pa.types.is_float64(t):
        return Float64
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return String
    if pa.types.is_boolean(t):
        return Bool
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return Bytes
    if pa.types.is_dictionary(t):
        return from_arrow(t.value_type)
    raise DefinitionError(
        f"Arrow type {t} has no feature type: use one of "
        "Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp or Array(...)"
    )


_ARRAY_RE: Final = re.compile(r"Array\((.+)\)")


def parse_type(text: str) -> DataType:
    """The type whose string form is ``text`` (the inverse of ``str(dtype)``)."""
    if text in _PRIMITIVES:
        return _PRIMITIVES[text]
    match = _ARRAY_RE.fullmatch(text)
    if match:
        return ArrayType(parse_type(match.group(1)))
    raise DefinitionError(
        f"unknown feature type {text!r}: use one of {', '.join(_PRIMITIVES)} or Array(<type>)"
    )
