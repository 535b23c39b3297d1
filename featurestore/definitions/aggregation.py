"""``Aggregation``: a windowed aggregate of a source column, computed from raw rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from featurestore.definitions._checks import check_duration, check_name
from featurestore.definitions.durations import format_duration
from featurestore.errors import DefinitionError
from featurestore.types import (
    ArrayType,
    Bytes,
    DataType,
    Float32,
    Float64,
    Int32,
    Int64,
    PrimitiveType,
)

__all__ = ["AGGREGATION_FUNCTIONS", "Aggregation"]

AGGREGATION_FUNCTIONS: Final = ("count", "sum", "mean", "min", "max", "stddev", "last")
_NUMERIC: Final = (Int32, Int64, Float32, Float64)


@dataclass(frozen=True, init=False)
class Aggregation:
    """``function`` of ``column`` over rows with ``t - time_window < event time <= t``.

    The output feature is named ``name``, by default ``{column}_{function}_{window}``
    such as ``amount_sum_1h``.
    """

    column: str
    function: str
    time_window: timedelta
    name: str

    def __init__(
        self,
        *,
        column: str,
        function: str,
        time_window: timedelta,
        name: str | None = None,
    ) -> None:
        check_name(column, "Aggregation column")
        if function not in AGGREGATION_FUNCTIONS:
            raise DefinitionError(
                f"Aggregation of {column!r}: unknown function {function!r}; use one of "
                f"{', '.join(AGGREGATION_FUNCTIONS)}"
            )
        check_duration(time_window, f"Aggregation of {column!r} time_window")
        default = f"{column}_{function}_{format_duration(time_window)}"
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "time_window", time_window)
        object.__setattr__(
            self, "name", default if name is None else check_name(name, "Aggregation name")
        )

    def output_dtype(self, input_dtype: DataType) -> DataType:
        """The type of the aggregate of a column of ``input_dtype``; DefinitionError if unfit."""
        fn = self.function
        if fn == "count":
            return Int64
        if fn == "last":
            return input_dtype
        if fn in ("sum", "mean", "stddev"):
            if input_dtype not in _NUMERIC:
                raise DefinitionError(
                    f"Aggregation {self.name!r}: {fn} needs a numeric column, but "
                    f"{self.column!r} is {input_dtype}"
                )
            if fn == "sum":
                return Int64 if input_dtype in (Int32, Int64) else Float64
            return Float64
        if (
            isinstance(input_dtype, ArrayType)
            or input_dtype == Bytes
            or not isinstance(input_dtype, PrimitiveType)
        ):
            raise DefinitionError(
                f"Aggregation {self.name!r}: {fn} needs an orderable column, but "
                f"{self.column!r} is {input_dtype}"
            )
        return input_dtype
