"""Entity-key encoding: deterministic, type-stable, and the same scalar or vectorized."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import online

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
VALUES = st.one_of(INT64, st.text(max_size=300), st.binary(max_size=200))


def test_integer_width_does_not_change_the_key() -> None:
    expected = online.encode_entity_key(["driver_id"], [1])
    assert online.encode_entity_key(["driver_id"], [np.int32(1)]) == expected
    for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint32(), pa.uint64()):
        assert online.encode_entity_keys(["driver_id"], [pa.array([1], t)]) == [expected]


def test_names_are_sorted_and_part_of_the_key() -> None:
    a = online.encode_entity_key(["b", "a"], [2, "x"])
    assert a == online.encode_entity_key(["a", "b"], ["x", 2])
    assert online.encode_entity_key(["c"], [2]) != online.encode_entity_key(["d"], [2])


def test_types_do_not_collide() -> None:
    keys = {online.encode_entity_key(["k"], [v]) for v in (1, "1", b"1", b"\x00" * 7 + b"\x01")}
    assert len(keys) == 4


def test_bad_keys_raise() -> None:
    with pytest.raises(online.UnsupportedTypeError):
        online.encode_entity_key(["k"], [1.5])
    with pytest.raises(online.UnsupportedTypeError):
        online.encode_entity_key(["k"], [True])
    with pytest.raises(online.InvalidInputError):
        online.encode_entity_key(["k", "j"], [1])
    with pytest.raises(online.InvalidInputError):
        online.encode_entity_keys(["k"], [pa.array([1, None])])
    with pytest.raises(online.UnsupportedTypeError):
        online.encode_entity_keys(["k"], [pa.array([1.0])])
    with pytest.raises(online.InvalidInputError):
        online.encode_entity_key(["k"], [2**64])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(INT64, st.text(max_size=300)), min_size=1, max_size=30),
)
def test_vectorized_equals_scalar(rows: list[tuple[int, str]]) -> None:
    ints = pa.array([r[0] for r in rows], pa.int64())
    strs = pa.array([r[1] for r in rows], pa.string())
    vectorized = online.encode_entity_keys(["z_id", "a_name"], [ints, strs])
    assert vectorized == [online.encode_entity_key(["z_id", "a_name"], list(r)) for r in rows]


@settings(max_examples=60, deadline=None)
@given(VALUES, VALUES)
def test_distinct_values_give_distinct_keys(a: object, b: object) -> None:
    ka = online.encode_entity_key(["x", "y"], [a, b])
    kb = online.encode_entity_key(["x", "y"], [b, a])
    assert (ka == kb) == (type(a) is type(b) and a == b)
