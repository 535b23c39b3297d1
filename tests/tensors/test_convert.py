"""Arrow columns to NumPy and torch: exact per type and null pattern, or refused by name."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
import torch

from featurestore import ValidationError
from featurestore.tensors import to_numpy, to_torch

INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32()]
NULL_PATTERNS = {
    "none": [False] * 6,
    "first": [True] + [False] * 5,
    "last": [False] * 5 + [True],
    "alternate": [True, False] * 3,
    "all": [True] * 6,
}


def _column(values: list[object], nulls: list[bool], type_: pa.DataType) -> pa.Array:
    return pa.array([None if n else v for v, n in zip(values, nulls, strict=True)], type=type_)


@pytest.mark.parametrize("type_", INT_TYPES, ids=str)
@pytest.mark.parametrize("pattern", sorted(NULL_PATTERNS))
def test_integers_of_every_width_are_exact_in_their_own_and_wider_dtypes(
    type_: pa.DataType, pattern: str
) -> None:
    info = np.iinfo(type_.to_pandas_dtype())
    values = [int(info.min), int(info.max), 0, 1, int(info.max) - 1, int(info.min) + 1]
    nulls = NULL_PATTERNS[pattern]
    table = pa.table({"a": _column(values, nulls, type_), "b": pa.array(range(6))})
    for dtype in (type_.to_pandas_dtype(), "int64"):
        matrix, mask = to_numpy(table, ["a", "b"], dtype=dtype, null_fill=0)
        assert matrix.dtype == np.dtype(dtype) and matrix.shape == (6, 2)
        expected = [0 if n else v for v, n in zip(values, nulls, strict=True)]
        assert matrix[:, 0].tolist() == expected
        assert matrix[:, 1].tolist() == list(range(6))
        if any(nulls):
            assert mask is not None and mask[:, 0].tolist() == nulls
            assert not mask[:, 1].any()
        else:
            assert mask is None
    tensor, tmask = to_torch(table, ["a"], dtype=torch.int64, null_fill=-1)
    assert tensor.dtype == torch.int64
    assert tensor[:, 0].tolist() == [-1 if n else v for v, n in zip(values, nulls, strict=True)]
    assert (tmask is None) == (not any(nulls))
    if tmask is not None:
        assert tmask.dtype == torch.bool and tmask[:, 0].tolist() == nulls


def test_int64_extremes_stay_exact_in_int64_and_are_refused_by_float32() -> None:
    big = [2**63 - 1, -(2**63), 2**53 + 1, 2**24 + 1]
    table = pa.table({"n": pa.array(big, pa.int64())})
    assert to_numpy(table, ["n"], dtype="int64")[0][:, 0].tolist() == big
    assert to_torch(table, ["n"], dtype=torch.int64)[0][:, 0].tolist() == big
    with pytest.raises(ValidationError, match=r"column 'n'.*float32.*dtype='int64'"):
        to_numpy(table, ["n"])
    with pytest.raises(ValidationError, match=r"column 'n'.*float64"):
        to_torch(table, ["n"], dtype=torch.float64)
    # below the mantissa, floats hold integers exactly
    small = pa.table({"n": pa.array([2**24, -(2**24), 7], pa.int64())})
    assert to_numpy(small, ["n"])[0][:, 0].tolist() == [2**24, -(2**24), 7]
    assert to_torch(small, ["n"], dtype=torch.float64)[0][:, 0].tolist() == [2**24, -(2**24), 7]


def test_narrowing_integers_out_of_range_is_refused() -> None:
    table = pa.table(
        {"n": pa.array([1, 300], pa.int64()), "u": pa.array([2**64 - 1, 0], pa.uint64())}
    )
    with pytest.raises(ValidationError, match=r"column 'n'.*int8's range"):
        to_numpy(table, ["n"], dtype="int8")
    with pytest.raises(ValidationError, match=r"column 'u'.*int64's range"):
        to_numpy(table, ["u"], dtype="int64")
    assert to_numpy(table, ["n"], dtype="int16")[0][:, 0].tolist() == [1, 300]


@pytest.mark.parametrize("pattern", sorted(NULL_PATTERNS))
def test_floats_and_bools_with_nulls_fill_and_mask(pattern: str) -> None:
    nulls = NULL_PATTERNS[pattern]
    f = [1.5, -2.25, 0.0, float("inf"), 1e-3, 3.0]
    b = [True, False, True, True, False, False]
    table = pa.table(
        {
            "f64": _column(f, nulls, pa.float64()),
            "f32": _column(f, nulls, pa.float32()),
            "b": _column(b, nulls, pa.bool_()),
        }
    )
    matrix, mask = to_numpy(table, ["f64", "f32", "b"], dtype="float64")
    for j, values in enumerate([f, f, [float(v) for v in b]]):
        for i, (v, n) in enumerate(zip(values, nulls, strict=True)):
            assert (
                np.isnan(matrix[i, j]) if n else matrix[i, j] == np.float32(v) or matrix[i, j] == v
            )
    assert (mask is None) == (not any(nulls))
    if mask is not None:
        assert mask.tolist() == [[n, n, n] for n in nulls]
    filled, _ = to_numpy(table, ["f64"], null_fill=-7.0)
    assert filled[:, 0].tolist() == [
        -7.0 if n else np.float32(v) for v, n in zip(f, nulls, strict=True)
    ]


def test_a_stored_nan_is_a_value_not_a_null() -> None:
    table = pa.table({"f": pa.array([float("nan"), None, 1.0])})
    matrix, mask = to_numpy(table, ["f"], null_fill=0.0)
    assert np.isnan(matrix[0, 0]) and matrix[1, 0] == 0.0 and matrix[2, 0] == 1.0
    assert mask is not None and mask[:, 0].tolist() == [False, True, False]


def test_timestamps_dates_and_durations_are_exact_integers_of_their_unit() -> None:
    ts = [datetime(2024, 12, 20, 23, 0, 0, 123456, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]
    table = pa.table(
        {
            "ts": pa.array([*ts, None], pa.timestamp("us", tz="UTC")),
            "ns": pa.array([1_734_735_600_123_456_789, 0, 5], pa.timestamp("ns")),
            "d": pa.array([date(2024, 12, 20), date(1970, 1, 2), None], pa.date32()),
            "dur": pa.array([timedelta(seconds=1), timedelta(0), None], pa.duration("ms")),
        }
    )
    matrix, mask = to_numpy(table, ["ts", "ns", "d", "dur"], dtype="int64", null_fill=0)
    micros = [int(t.timestamp()) * 10**6 + t.microsecond for t in ts]
    assert matrix[:, 0].tolist() == [*micros, 0]
    assert matrix[:, 1].tolist() == [1_734_735_600_123_456_789, 0, 5]
    assert matrix[:, 2].tolist() == [20077, 1, 0]
    assert matrix[:, 3].tolist() == [1000, 0, 0]
    assert mask is not None and mask[2].tolist() == [True, False, True, True]
    with pytest.raises(ValidationError, match=r"column 'ts'.*float32"):
        to_numpy(table, ["ts"])
    # microseconds since the epoch stay below 2**53: float64 holds them exactly
    assert to_numpy(table, ["ts"], dtype="float64", null_fill=0)[0][:2, 0].tolist() == micros
    with pytest.raises(ValidationError, match=r"column 'ns'.*float64"):
        to_numpy(table, ["ns"], dtype="float64")


def test_floats_into_integers_only_when_whole() -> None:
    table = pa.table({"w": pa.array([1.0, -3.0]), "x": pa.array([1.0, 2.5])})
    assert to_numpy(table, ["w"], dtype="int32")[0][:, 0].tolist() == [1, -3]
    with pytest.raises(ValidationError, match=r"column 'x'.*whole numbers"):
        to_numpy(table, ["x"], dtype="int32")


def test_single_column_without_nulls_shares_the_arrow_buffer() -> None:
    arrow = pa.array(np.arange(1000, dtype=np.float32))
    table = pa.table({"f": arrow, "g": arrow})
    matrix, mask = to_numpy(table, ["f"])
    view = arrow.to_numpy(zero_copy_only=True)
    assert mask is None and matrix.shape == (1000, 1)
    assert np.shares_memory(matrix, view)
    tensor, _ = to_torch(table, ["f"])
    assert tensor.data_ptr() == arrow.buffers()[1].address
    # int64 stays shared in int64, likewise
    ints = pa.table({"i": pa.array(np.arange(10, dtype=np.int64))})
    assert np.shares_memory(
        to_numpy(ints, ["i"], dtype="int64")[0], ints.column("i").chunk(0).to_numpy()
    )
    # another dtype, nulls, several chunks or several columns: one copy, not shared
    assert not np.shares_memory(to_numpy(table, ["f", "g"])[0], view)
    assert not np.shares_memory(to_numpy(table, ["f"], dtype="float64")[0], view)
    chunked = pa.table({"f": pa.chunked_array([arrow.slice(0, 500), arrow.slice(500)])})
    assert not np.shares_memory(to_numpy(chunked, ["f"])[0], view)
    assert to_numpy(chunked, ["f"])[0][:, 0].tolist() == list(range(1000))


def test_column_order_is_the_order_asked() -> None:
    table = pa.table({"a": [1, 2], "b": [10, 20], "c": [100, 200]})
    matrix, _ = to_numpy(table, ["c", "a", "b"], dtype="int64")
    assert matrix.tolist() == [[100, 1, 10], [200, 2, 20]]


def test_bad_input_is_refused_with_what_to_do() -> None:
    table = pa.table({"s": ["x", "y"], "n": [1, None], "l": [[1], [2]], "f": [1.0, 2.0]})
    with pytest.raises(ValidationError, match=r"column 's' holds string.*encode it first"):
        to_numpy(table, ["f", "s"])
    with pytest.raises(ValidationError, match=r"column 'l' holds list"):
        to_torch(table, ["l"])
    with pytest.raises(
        ValidationError, match=r"unknown column\(s\) \['nope'\].*pass some of those"
    ):
        to_numpy(table, ["f", "nope"])
    with pytest.raises(ValidationError, match="no columns"):
        to_numpy(table, [])
    with pytest.raises(ValidationError, match="list of column names"):
        to_numpy(table, "f")
    with pytest.raises(ValidationError, match=r"column 'n'.*null_fill=None refuses nulls"):
        to_numpy(table, ["n"], null_fill=None)
    with pytest.raises(
        ValidationError, match=r"column 'n'.*cannot hold null_fill=nan.*null_fill=0"
    ):
        to_numpy(table, ["n"], dtype="int64")
    with pytest.raises(ValidationError, match="not numeric"):
        to_numpy(table, ["f"], dtype="U3")
    with pytest.raises(ValidationError, match="not a torch dtype"):
        to_torch(table, ["f"], dtype="nonsense")


def test_empty_table_gives_an_empty_matrix() -> None:
    table = pa.table({"f": pa.array([], pa.float64()), "i": pa.array([], pa.int64())})
    matrix, mask = to_numpy(table, ["f", "i"])
    assert matrix.shape == (0, 2) and mask is None
    tensor, _ = to_torch(table, ["f", "i"], dtype=torch.float64)
    assert tuple(tensor.shape) == (0, 2)


def test_bfloat16_and_pinning_without_an_accelerator() -> None:
    table = pa.table({"i": pa.array([1, 256, -3]), "f": pa.array([0.5, 1.5, 2.0])})
    tensor, _ = to_torch(table, ["i", "f"], dtype=torch.bfloat16, pin_memory=True)
    assert tensor.dtype == torch.bfloat16 and tensor.tolist() == [[1, 0.5], [256, 1.5], [-3, 2.0]]
    with pytest.raises(ValidationError, match=r"column 'i'.*bfloat16"):
        to_torch(pa.table({"i": pa.array([257])}), ["i"], dtype=torch.bfloat16)


def test_featurestore_and_to_numpy_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pyarrow as pa, featurestore\n"
        "from featurestore.tensors import to_numpy\n"
        "m, _ = to_numpy(pa.table({'a': [1, 2]}), ['a'])\n"
        "assert m.tolist() == [[1.0], [2.0]]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_device_other_than_the_cpu_gets_the_tensors_moved() -> None:
    # "meta" is a device every torch build has: the same lines as "cuda" run here
    table = pa.table({"f": pa.array([1.0, None]), "i": pa.array([1, 2])})
    tensor, mask = to_torch(table, ["f", "i"], device="meta", pin_memory=True)
    assert tensor.device.type == "meta" and tuple(tensor.shape) == (2, 2)
    assert mask is not None and mask.device.type == "meta" and mask.dtype == torch.bool
