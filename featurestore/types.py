"""Feature value types and their Arrow equivalents.

Each type has a stable string form used in serialized definitions: ``"Int64"``,
``"UnixTimestamp"``, ``"Array(Float32)"``, ``"Map"``, ``"Json"``,
``"Struct(name:String,age:Int64)"``. ``UnixTimestamp`` is Arrow's
``timestamp[us, tz=UTC]``; ``Map`` is ``map<string, string>`` (Feast's Arrow type for
it); ``Json`` is JSON text in an Arrow string; ``Struct`` is an Arrow struct.
``ValueType`` is Feast's enum of entity key types, accepted as ``Entity(value_type=...)``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
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
    "Json",
    "JsonType",
    "Map",
    "MapType",
    "PrimitiveType",
    "String",
    "Struct",
    "UnixTimestamp",
    "ValueType",
    "from_arrow",
    "from_value_type",
    "parse_type",
]


class DataType:
    """A feature value type: a primitive, an ``Array`` of one, ``Map``, ``Json`` or a ``Struct``."""

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


@dataclass(frozen=True)
class MapType(DataType):
    """String keys to string values (Feast's ``Map``): Arrow ``map<string, string>``."""

    def to_arrow(self) -> pa.DataType:
        return pa.map_(pa.string(), pa.string())

    def __str__(self) -> str:
        return "Map"

    def __repr__(self) -> str:
        return "Map"


@dataclass(frozen=True)
class JsonType(DataType):
    """JSON text (Feast's ``Json``), stored as an Arrow string."""

    def to_arrow(self) -> pa.DataType:
        return pa.string()

    def __str__(self) -> str:
        return "Json"

    def __repr__(self) -> str:
        return "Json"


Map: Final = MapType()
Json: Final = JsonType()


@dataclass(frozen=True, init=False)
class Struct(DataType):
    """Named, typed fields (Feast's ``Struct({"name": String, "age": Int64})``): an Arrow struct."""

    fields: tuple[tuple[str, DataType], ...]

    def __init__(self, fields: Mapping[str, DataType | pa.DataType]) -> None:
        if not isinstance(fields, Mapping) or not fields:
            raise DefinitionError(
                f"Struct({fields!r}): give a non-empty dict of field name to type, e.g. "
                'Struct({"name": String, "age": Int64})'
            )
        items: list[tuple[str, DataType]] = []
        for name, dtype in fields.items():
            if isinstance(dtype, pa.DataType):
                dtype = from_arrow(dtype)
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise DefinitionError(
                    f"Struct field name {name!r} is not valid: use letters, digits and "
                    "underscores, starting with a letter or underscore"
                )
            if not isinstance(dtype, DataType):
                raise DefinitionError(
                    f"Struct field {name!r}: the type must be a type such as String or Int64, "
                    f"not {dtype!r}"
                )
            items.append((name, dtype))
        object.__setattr__(self, "fields", tuple(items))

    def to_arrow(self) -> pa.DataType:
        return pa.struct([pa.field(n, t.to_arrow()) for n, t in self.fields])

    def __str__(self) -> str:
        return "Struct(" + ",".join(f"{n}:{t}" for n, t in self.fields) + ")"

    def __repr__(self) -> str:
        return "Struct({" + ", ".join(f"{n!r}: {t!r}" for n, t in self.fields) + "})"


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
    if (
        pa.types.is_map(t)
        and from_arrow(t.key_type) == String
        and from_arrow(t.item_type) == String
    ):
        return Map
    if pa.types.is_struct(t) and t.num_fields:
        return Struct({t.field(i).name: from_arrow(t.field(i).type) for i in range(t.num_fields)})
    raise DefinitionError(
        f"Arrow type {t} has no feature type: use one of Int32, Int64, Float32, Float64, "
        "String, Bool, Bytes, UnixTimestamp, Array(...), Map (map<string, string>), Json or "
        "Struct({...})"
    )


_ARRAY_RE: Final = re.compile(r"Array\((.+)\)")
_STRUCT_RE: Final = re.compile(r"Struct\((.+)\)")


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts: list[str] = []
    depth = start = 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_type(text: str) -> DataType:
    """The type whose string form is ``text`` (the inverse of ``str(dtype)``)."""
    if text in _PRIMITIVES:
        return _PRIMITIVES[text]
    if text == "Map":
        return Map
    if text == "Json":
        return Json
    match = _ARRAY_RE.fullmatch(text)
    if match:
        return ArrayType(parse_type(match.group(1)))
    match = _STRUCT_RE.fullmatch(text)
    if match:
        fields: dict[str, DataType] = {}
        for part in _split_top(match.group(1)):
            name, sep, inner = part.partition(":")
            if not sep:
                break
            fields[name] = parse_type(inner)
        else:
            return Struct(fields)
    raise DefinitionError(
        f"unknown feature type {text!r}: use one of {', '.join(_PRIMITIVES)}, Map, Json, "
        "Array(<type>) or Struct(<name>:<type>,...)"
    )


class ValueType(enum.Enum):
    """Feast's value types (the numbers are Feast's), for ``Entity(value_type=...)``."""

    UNKNOWN = 0
    BYTES = 1
    STRING = 2
    INT32 = 3
    INT64 = 4
    DOUBLE = 5
    FLOAT = 6
    BOOL = 7
    UNIX_TIMESTAMP = 8
    BYTES_LIST = 11
    STRING_LIST = 12
    INT32_LIST = 13
    INT64_LIST = 14
    DOUBLE_LIST = 15
    FLOAT_LIST = 16
    BOOL_LIST = 17
    UNIX_TIMESTAMP_LIST = 18
    NULL = 19
    MAP = 20
    JSON = 32


_VALUE_TYPES: Final[dict[ValueType, DataType]] = {
    ValueType.BYTES: Bytes,
    ValueType.STRING: String,
    ValueType.INT32: Int32,
    ValueType.INT64: Int64,
    ValueType.DOUBLE: Float64,
    ValueType.FLOAT: Float32,
    ValueType.BOOL: Bool,
    ValueType.UNIX_TIMESTAMP: UnixTimestamp,
    ValueType.BYTES_LIST: ArrayType(Bytes),
    ValueType.STRING_LIST: ArrayType(String),
    ValueType.INT32_LIST: ArrayType(Int32),
    ValueType.INT64_LIST: ArrayType(Int64),
    ValueType.DOUBLE_LIST: ArrayType(Float64),
    ValueType.FLOAT_LIST: ArrayType(Float32),
    ValueType.BOOL_LIST: ArrayType(Bool),
    ValueType.UNIX_TIMESTAMP_LIST: ArrayType(UnixTimestamp),
    ValueType.MAP: Map,
    ValueType.JSON: Json,
}


def from_value_type(value_type: ValueType) -> DataType | None:
    """The feature type of a Feast ``ValueType``; None for ``UNKNOWN`` (inferred at apply)."""
    if value_type is ValueType.UNKNOWN:
        return None
    if value_type not in _VALUE_TYPES:
        raise DefinitionError(
            f"ValueType.{value_type.name} has no feature type; use one of "
            + ", ".join(f"ValueType.{v.name}" for v in _VALUE_TYPES)
        )
    return _VALUE_TYPES[value_type]
