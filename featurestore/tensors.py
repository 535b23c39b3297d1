"""Arrow tables to NumPy matrices and torch tensors, exactly or not at all.

``to_numpy(table, columns, dtype=, null_fill=)`` returns ``(matrix, mask)``: a
``rows x len(columns)`` C-ordered matrix with the columns in the order given, and a
boolean matrix of the same shape that is True where the Arrow value was null (``None``
when no value is null). ``to_torch`` is the same with tensors, optionally pinned and
moved to a device. The objects that hold features convert the same way:

- ``RetrievalJob.to_numpy(*, dtype="float32", null_fill=nan, labels=(), label_dtype=None,
  features=None)`` and ``RetrievalJob.to_torch(*, dtype=None, device="cpu",
  null_fill=nan, pin_memory=False, labels=(), label_dtype=None, features=None)`` return
  ``(features, mask, labels)``: the features in the order requested (a feature
  service's declared order), without the entity rows' key, timestamp and label
  columns; ``labels`` names entity-row columns returned apart (``None`` when no label
  is asked for), as ``label_dtype`` (default: ``dtype``). ``features`` picks a subset of
  the feature columns by output name.
- ``OnlineResponse.to_numpy(...)`` / ``.to_torch(...)``: the same, without labels:
  ``(features, mask)`` in the requested order (entity keys are left out).

Rules, per Arrow type of a column:

- integers (8 to 64 bits, signed or not), floats, booleans: values as they are.
  Timestamps become integers of their own unit since the epoch (``timestamp[us]``:
  microseconds), dates days since the epoch, durations integers of their unit.
- Exactness: an integer (or timestamp) goes into a float dtype only if every value
  fits its mantissa exactly (``|v| <= 2**24`` for float32, ``2**53`` for float64,
  ``2**11`` float16, ``2**8`` bfloat16); into an integer dtype only if it is in range;
  a float goes into an integer dtype only if every value is a whole number in range.
  Anything else is a ``ValidationError`` that names the column and the dtype to use
  (``dtype="int64"`` keeps any int64 and any timestamp exactly). Floats into a smaller
  float round to nearest, as a NumPy cast does.
- Strings, binaries, lists, structs and decimals are refused with a ValidationError
  naming the column: encode them as numbers first (a category id, an embedding).
- Nulls: the mask marks them and they hold ``null_fill`` (NaN by default, so an
  integer dtype needs a number, e.g. ``null_fill=0``); ``null_fill=None`` refuses any
  null. A NaN stored as a float value is a value, not a null: the mask leaves it out.
- Memory: one column of a single-chunk Arrow array without nulls, already of the
  asked dtype, is returned without a copy (a read-only view of the Arrow buffer, and
  ``to_torch`` shares it through DLPack); anything else costs exactly one copy into
  the new matrix. ``pin_memory=True`` pins the host tensor (when an accelerator is
  present) so that repeated host-to-device copies run asynchronously.

torch is imported only by ``to_torch``: ``to_numpy`` and the rest of featurestore work
without it (``pip install 'featurestore[gpu]'`` adds it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.errors import ValidationError

if TYPE_CHECKING:
    import torch

__all__ = ["to_numpy", "to_torch", "torch_dtype"]

_MANTISSA = {"float16": 11, "float32": 24, "float64": 53, "bfloat16": 8}
"""Bits of integer precision of each float dtype: larger integers may not be exact."""


def _columns(table: pa.Table, columns: Sequence[str]) -> list[str]:
    if isinstance(columns, str):
        raise ValidationError(f"columns must be a list of column names, got the string {columns!r}")
    names = list(columns)
    if not names:
        raise ValidationError("no columns to convert: pass at least one column name")
    unknown = [c for c in names if c not in table.schema.names]
    if unknown:
        raise ValidationError(
            f"unknown column(s) {unknown}: the table has {table.schema.names}; pass some of those"
        )
    return names


def _numeric(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """``column`` as integers, floats or booleans; refused (naming it) when not numeric."""
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return column
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date64(t):
        return column.cast(pa.int64())
    if pa.types.is_date32(t):
        return column.cast(pa.int32())
    if pa.types.is_null(t):
        return column.cast(pa.int8())
    raise ValidationError(
        f"column {name!r} holds {t} values, which are not numbers: encode it first (for "
        "example a category id or an embedding), or leave it out of the columns"
    )


def _check_exact(values: pa.ChunkedArray, name: str, target: str, source_type: pa.DataType) -> None:
    """Raise unless every non-null value of ``values`` converts to ``target`` exactly."""
    t = values.type
    if pa.types.is_boolean(t) or values.null_count == len(values):
        return
    if target == "bool":
        raise ValidationError(f"column {name!r} holds {source_type}; only booleans go into bool")
    if pa.types.is_floating(t) and target in _MANTISSA:
        return  # float to float: rounding to nearest is the documented rule
    if pa.types.is_integer(t) and _always_fits(t, target):
        return
    lo_hi = pc.min_max(values)
    lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
    if pa.types.is_integer(t):
        if target in _MANTISSA:
            bound = 2 ** _MANTISSA[target]
            if max(abs(lo), abs(hi)) > bound:
                raise ValidationError(
                    f"column {name!r} ({source_type}) holds values up to {max(abs(lo), abs(hi))}"
                    f", beyond what {target} keeps exactly (2**{_MANTISSA[target]}): pass "
                    "dtype='int64' (or 'float64' where values stay below 2**53)"
                )
            return
        info = np.iinfo(target)
        if lo < info.min or hi > info.max:
            raise ValidationError(
                f"column {name!r} ({source_type}) holds values in [{lo}, {hi}], outside "
                f"{target}'s range: pass dtype='int64'"
            )
        return
    whole = pc.all(pc.equal(pc.floor(values), values)).as_py()
    info = np.iinfo(target)
    if not whole or not (math.isfinite(lo) and math.isfinite(hi)) or lo < info.min or hi > info.max:
        raise ValidationError(
            f"column {name!r} ({source_type}) holds values that are not whole numbers within "
            f"{target}'s range (in [{lo}, {hi}]): pass a float dtype such as 'float32'"
        )


def _always_fits(source: pa.DataType, target: str) -> bool:
    """Whether every value of integer type ``source`` is exact in ``target``."""
    bits: int = source.bit_width - (1 if pa.types.is_signed_integer(source) else 0)
    if target in _MANTISSA:
        return bits <= _MANTISSA[target]
    return bool(np.can_cast(source.to_pandas_dtype(), target, "safe"))


def _fill_value(null_fill: float | None, target: np.dtype[Any], name: str) -> Any:
    if null_fill is None:
        raise ValidationError(
            f"column {name!r} has null values and null_fill=None refuses nulls: pass a "
            "null_fill (the mask says where the nulls were) or fill them first"
        )
    if target.kind in "iub" and isinstance(null_fill, float) and not null_fill.is_integer():
        raise ValidationError(
            f"column {name!r} has nulls and dtype {target} cannot hold null_fill="
            f"{null_fill!r}: pass a whole number, e.g. null_fill=0 (the mask marks nulls)"
        )
    return null_fill


def _host_dtype(dtype: Any) -> tuple[np.dtype[Any], str]:
    """(NumPy dtype to build in, the name its exactness rules go by)."""
    if dtype == "bfloat16":
        return np.dtype("float32"), "bfloat16"
    try:
        np_dtype = np.dtype(dtype)
    except TypeError as e:
        raise ValidationError(f"dtype {dtype!r} is not a NumPy dtype; use e.g. 'float32'") from e
    if np_dtype.kind not in "iufb":
        raise ValidationError(
            f"dtype {dtype!r} is not numeric: use a float, integer or bool dtype ('float32')"
        )
    return np_dtype, np_dtype.name


def to_numpy(
    table: pa.Table,
    columns: Sequence[str],
    *,
    dtype: Any = "float32",
    null_fill: float | None = float("nan"),
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """``(matrix, null mask or None)`` of ``columns`` of ``table``; see the module docstring."""
    return _convert(table, columns, dtype, null_fill)


def _convert(
    table: pa.Table, columns: Sequence[str], dtype: Any, null_fill: float | None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    names = _columns(table, columns)
    target, rule = _host_dtype(dtype)
    prepared = []
    for name in names:
        column = table.column(name)
        values = _numeric(column, name)
        _check_exact(values, name, rule, column.type)
        prepared.append(values)
    if len(prepared) == 1:
        view = _zero_copy(prepared[0], target)
        if view is not None:
            return view.reshape(-1, 1), None
    rows = table.num_rows
    out = np.empty((rows, len(names)), dtype=target)
    mask: np.ndarray[Any, Any] | None = None
    for j, (name, values) in enumerate(zip(names, prepared, strict=True)):
        if values.null_count:
            fill = _fill_value(null_fill, target, name)
            if mask is None:
                mask = np.zeros((rows, len(names)), dtype=np.bool_)
            nulls = values.is_null().to_numpy()
            mask[:, j] = nulls
            zero = False if pa.types.is_boolean(values.type) else 0
            _copy_into(out[:, j], values.fill_null(zero))
            out[nulls, j] = fill
        else:
            _copy_into(out[:, j], values)
    return out, mask


def _copy_into(target: np.ndarray[Any, Any], values: pa.ChunkedArray) -> None:
    """Copy ``values`` (no nulls) into ``target`` chunk by chunk, from zero-copy views."""
    start = 0
    for chunk in values.chunks:
        n = len(chunk)
        target[start : start + n] = chunk.to_numpy(zero_copy_only=False)
        start += n


def _zero_copy(values: pa.ChunkedArray, target: np.dtype[Any]) -> np.ndarray[Any, Any] | None:
    """A read-only view of the Arrow buffer when one chunk without nulls has ``target``."""
    if values.num_chunks != 1 or values.null_count or pa.types.is_boolean(values.type):
        return None
    if values.type.to_pandas_dtype() != target:
        return None
    view: np.ndarray[Any, Any] = values.chunk(0).to_numpy(zero_copy_only=True)
    return view


def torch_dtype(dtype: Any) -> torch.dtype:
    """``dtype`` (a torch dtype, a name like 'float32', or None for float32) as a torch dtype."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    found = getattr(torch, str(dtype), None)
    if not isinstance(found, torch.dtype):
        raise ValidationError(f"dtype {dtype!r} is not a torch dtype; use e.g. torch.float32")
    return found


def to_torch(
    table: pa.Table,
    columns: Sequence[str],
    *,
    dtype: Any = None,
    device: Any = "cpu",
    null_fill: float | None = float("nan"),
    pin_memory: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(tensor, null mask tensor or None)`` of ``columns``; see the module docstring."""
    import torch

    wanted = torch_dtype(dtype)
    name = "bfloat16" if wanted == torch.bfloat16 else str(wanted).removeprefix("torch.")
    matrix, mask = _convert(table, columns, name, null_fill)
    tensors = [_from_numpy(matrix).to(wanted)] + ([] if mask is None else [_from_numpy(mask)])
    moved = [_to_device(t, device, pin_memory) for t in tensors]
    return moved[0], (moved[1] if mask is not None else None)


def _from_numpy(array: np.ndarray[Any, Any]) -> torch.Tensor:
    import torch
    from torch.utils.dlpack import from_dlpack

    # a read-only view of an Arrow buffer goes through DLPack: shared, and no warning
    return torch.from_numpy(array) if array.flags.writeable else from_dlpack(array)


def _to_device(tensor: torch.Tensor, device: Any, pin_memory: bool) -> torch.Tensor:
    import torch

    target = torch.device(device)
    if pin_memory and torch.accelerator.is_available():
        tensor = tensor.pin_memory()
    if target.type == "cpu":
        return tensor
    return tensor.to(target, non_blocking=pin_memory)


def split_columns(
    table: pa.Table,
    feature_count: int,
    labels: Sequence[str] = (),
    features: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """(feature columns, label columns) of a training set whose last ``feature_count``
    columns are its features (entity-row columns come first, as retrieval builds them)."""
    if isinstance(labels, str):
        labels = [labels]
    names = table.schema.names
    available = names[len(names) - feature_count :] if feature_count else []
    chosen = list(available) if features is None else list(features)
    unknown = [f for f in chosen if f not in available]
    if unknown:
        raise ValidationError(
            f"unknown feature(s) {unknown}: the training set's features are {available}"
        )
    missing = [c for c in labels if c not in names]
    if missing:
        raise ValidationError(
            f"unknown label column(s) {missing}: the training set has {names}; labels are "
            "columns of the entity rows (pass them in entity_df)"
        )
    return [f for f in chosen if f not in labels], list(labels)
