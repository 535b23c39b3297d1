"""Feast's types and enums, compared with Feast's own."""

from __future__ import annotations

import feast
import feast.types as ft
import pyarrow as pa

import featurestore as fs
from featurestore.types import from_arrow


def test_feast_types_have_feast_arrow_types() -> None:
    assert fs.Map.to_arrow() == ft.from_feast_to_pyarrow_type(ft.Map)
    struct = fs.Struct({"name": fs.String, "age": fs.Int64})
    feast_struct = ft.Struct({"name": ft.String, "age": ft.Int64})
    assert struct.to_arrow() == feast_struct.to_pyarrow_type()
    assert pa.types.is_string(fs.Json.to_arrow())
    assert from_arrow(struct.to_arrow()) == struct
    assert from_arrow(fs.Map.to_arrow()) == fs.Map


def test_value_type_and_push_mode_numbers_are_feast_s() -> None:
    for member in fs.ValueType:
        assert feast.ValueType[member.name].value == member.value
    assert [m.value for m in fs.PushMode] == [m.value for m in feast.data_source.PushMode]
    assert [m.name for m in fs.PushMode] == [m.name for m in feast.data_source.PushMode]
