"""Lenient casts into ``Map`` and ``Struct`` columns: dicts, and the JSON text of objects.

Feast's SDK sends ``Map`` and ``Struct`` values over HTTP as JSON text, so a string
column declared ``Map`` or ``Struct`` is read as JSON objects when every row is one that
fits; anything else is refused naming the column, the row and what to send.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from featurestore import Json, Map, String, Struct
from featurestore.casts import cast_column
from featurestore.errors import SchemaError

MAP = Map.to_arrow()
PROFILE = Struct({"name": String, "age": String}).to_arrow()


def _cast(values: list[Any], dtype: pa.DataType) -> list[Any]:
    column = cast_column(pa.array(values, pa.string()), dtype, name="col", what="push")
    assert column.type == dtype
    out: list[Any] = column.to_pylist()
    return out


def test_json_text_of_objects_becomes_map_values() -> None:
    sent = [{"vehicle_type": "truck", "rating": "5.0"}, {}, None, {"a": None}]
    texts = [None if v is None else json.dumps(v) for v in sent]
    got = _cast(texts, MAP)
    assert [None if m is None else dict(m) for m in got] == sent


def test_json_text_of_objects_becomes_struct_values_whatever_the_key_order() -> None:
    texts = ['{"age": "30", "name": "ada"}', '{"name": "bo"}', None]
    assert _cast(texts, PROFILE) == [
        {"name": "ada", "age": "30"},
        {"name": "bo", "age": None},
        None,
    ]


def test_json_features_keep_their_text() -> None:
    text = '{"max_distance_km": 500, "preferred_zones": ["north"]}'
    assert _cast([text], Json.to_arrow()) == [text]


@pytest.mark.parametrize(
    ("values", "dtype", "row", "words"),
    [
        (['{"a": "x"}', "not json"], MAP, 1, "not the JSON text of an object"),
        (['["a", "b"]'], MAP, 0, "not the JSON text of an object"),
        (['{"a": "x"}', '{"a": "x"}', '{"rating": 5}'], MAP, 2, "does not fit Map"),
        (['{"name": "ada", "age": 30}'], PROFILE, 0, "does not fit Struct"),
        (['{"name": "ada", "height": "1.8"}'], PROFILE, 0, "height"),
    ],
)
def test_text_that_is_no_fitting_object_is_refused_naming_column_and_row(
    values: list[str], dtype: pa.DataType, row: int, words: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        _cast(values, dtype)
    message = str(caught.value)
    assert f"column 'col' row {row}" in message
    assert words in message
    assert "send an object" in message
    for arrow_words in ("Expected bytes", "cast_map", "ArrowTypeError", "map<"):
        assert arrow_words not in message


def test_dicts_with_a_field_the_struct_lacks_are_refused_not_cut() -> None:
    column = pa.array([{"name": "ada", "age": "3", "height": "1.8"}])
    with pytest.raises(SchemaError, match="row 0 holds the field\\(s\\) height"):
        cast_column(column, PROFILE, name="col", what="push")
