"""Feature types map to Arrow and back, and their string forms parse back."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.errors import DefinitionError
from featurestore.types import (
    Array,
    Bool,
    Bytes,
    DataType,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
    from_arrow,
    parse_type,
)

PRIMITIVES = [Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp]
EXPECTED_ARROW = {
    Int32: pa.int32(),
    Int64: pa.int64(),
    Float32: pa.float32(),
    Float64: pa.float64(),
    String: pa.string(),
    Bool: pa.bool_(),
    Bytes: pa.binary(),
    UnixTimestamp: pa.timestamp("us", tz="UTC"),
}
types_st = st.sampled_from(PRIMITIVES) | st.sampled_from(PRIMITIVES).map(Array)


@pytest.mark.parametrize("dtype", PRIMITIVES, ids=str)
def test_primitive_to_arrow_and_back(dtype: DataType) -> None:
    assert dtype.to_arrow() == EXPECTED_ARROW[dtype]
    assert from_arrow(dtype.to_arrow()) == dtype


@settings(max_examples=40, deadline=None)
@given(types_st)
def test_round_trips(dtype: DataType) -> None:
    assert from_arrow(dtype.to_arrow()) == dtype
    assert parse_type(str(dtype)) == dtype


def test_array_maps_to_arrow_list() -> None:
    assert Array(Float32).to_arrow() == pa.list_(pa.float32())
    assert str(Array(Int64)) == "Array(Int64)"
    assert from_arrow(pa.large_list(pa.string())) == Array(String)


def test_timestamps_of_any_unit_or_zone_are_unix_timestamps() -> None:
    assert from_arrow(pa.timestamp("ns")) == UnixTimestamp
    assert from_arrow(pa.timestamp("s", tz="Europe/Paris")) == UnixTimestamp


def test_narrow_arrow_types_widen() -> None:
    assert from_arrow(pa.int8()) == Int32
    assert from_arrow(pa.uint32()) == Int64
    assert from_arrow(pa.large_string()) == String
    assert from_arrow(pa.dictionary(pa.int32(), pa.string())) == String


def test_unmappable_arrow_type_is_refused() -> None:
    with pytest.raises(DefinitionError, match="uint64"):
        from_arrow(pa.uint64())
    with pytest.raises(DefinitionError, match="map<string, int64>"):
        from_arrow(pa.map_(pa.string(), pa.int64()))


def test_unknown_type_string_is_refused() -> None:
    with pytest.raises(DefinitionError, match="unknown feature type 'Int128'"):
        parse_type("Int128")


def test_nested_arrays_are_refused() -> None:
    with pytest.raises(DefinitionError, match="element type must be a primitive"):
        Array(Array(Int64))
