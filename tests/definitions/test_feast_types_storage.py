"""Map, Json and Struct values stored offline (casts on write) and online (the codec)."""

from __future__ import annotations

import pyarrow as pa
import pytest

import featurestore as fs
from offline._errors import SchemaMismatchError
from offline._schema import conform
from online.codec import PythonDecoder, TableDecoder, decode_column, encode_column

PROFILE = fs.Struct({"name": fs.String, "age": fs.Int64, "tags": fs.Array(fs.String)})


@pytest.mark.parametrize(
    "array",
    [
        pa.array([{"a": "b", "c": None}, None, {}, {"x": "y"}], fs.Map.to_arrow()),
        pa.array(
            [
                {"name": "n", "age": 3, "tags": ["a", None]},
                None,
                {"name": None, "age": None, "tags": None},
            ],
            PROFILE.to_arrow(),
        ),
        pa.array(
            [{"inner": {"m": {"k": "v"}}}, {"inner": None}],
            fs.Struct({"inner": fs.Struct({"m": fs.Map})}).to_arrow(),
        ),
    ],
)
def test_nested_values_round_trip_through_the_codec(array: pa.Array) -> None:
    for piece in (array, array.slice(1)):
        payloads = encode_column(piece).to_pylist()
        assert decode_column("c", payloads, piece.type).equals(piece)
        schema = pa.schema([("c", piece.type)])
        (decoded,) = TableDecoder(schema).decode([payloads], len(piece))
        assert decoded.equals(piece)
        values = PythonDecoder(schema).decode([payloads])["c"]
        expected = piece.to_pylist()
        if pa.types.is_map(piece.type):
            expected = [None if v is None else dict(v) for v in expected]
        assert values == expected


def test_map_values_read_back_as_dicts_as_feast_returns_them() -> None:
    array = pa.array([{"vehicle_type": "truck", "rating": "5.0"}], fs.Map.to_arrow())
    schema = pa.schema([("m", array.type)])
    payloads = encode_column(array).to_pylist()
    assert PythonDecoder(schema).decode([payloads]) == {
        "m": [{"vehicle_type": "truck", "rating": "5.0"}]
    }


def test_writes_cast_dicts_to_map_and_struct_columns() -> None:
    schema = pa.schema(
        [
            ("meta", fs.Map.to_arrow()),
            ("profile", fs.Struct({"name": fs.String, "age": fs.String}).to_arrow()),
            ("config", fs.Json.to_arrow()),
        ]
    )
    # what pandas and pa.Table.from_pylist make of Python dicts: structs, fields in any order
    data = pa.Table.from_pylist(
        [
            {"meta": {"vehicle": "van", "rating": None}, "profile": {"age": "30", "name": "a"}, "config": "{}"},
            {"meta": None, "profile": None, "config": None},
        ]
    )  # fmt: skip
    out = conform(data, schema, [])
    assert out.schema == schema
    assert out.column("meta").to_pylist() == [[("vehicle", "van")], None]
    assert out.column("profile").to_pylist() == [{"name": "a", "age": "30"}, None]


@pytest.mark.parametrize(
    ("column", "target"),
    [
        (pa.array([{"n": 1}]), fs.Map.to_arrow()),
        (pa.array([{"name": "a", "extra": "b"}]), fs.Struct({"name": fs.String}).to_arrow()),
        (pa.array(["text"]), fs.Map.to_arrow()),
    ],
)
def test_writes_that_would_lose_values_are_refused(column: pa.Array, target: pa.DataType) -> None:
    with pytest.raises(SchemaMismatchError, match="no safe cast"):
        conform(pa.table({"c": column}), pa.schema([("c", target)]), [])
