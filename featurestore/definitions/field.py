"""``Field``: a named, typed column of a schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from featurestore.definitions._checks import FrozenDict, check_name, check_tags, check_text
from featurestore.errors import DefinitionError
from featurestore.types import DataType, from_arrow

__all__ = ["Field"]


@dataclass(frozen=True, init=False)
class Field:
    """A column of a feature view, request source or on-demand view.

    ``dtype`` is a featurestore type (``Float32``, ``Array(Int64)``) or an Arrow type.
    """

    name: str
    dtype: DataType
    description: str
    tags: FrozenDict[str, str]

    def __init__(
        self,
        *,
        name: str,
        dtype: DataType | pa.DataType,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_name(name, "Field name")
        if isinstance(dtype, pa.DataType):
            dtype = from_arrow(dtype)
        if not isinstance(dtype, DataType):
            raise DefinitionError(
                f"Field {name!r}: dtype must be a type such as Int64, Float32, String or "
                f"Array(Float32), not {dtype!r}"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(
            self, "description", check_text(description, f"Field {name!r} description")
        )
        object.__setattr__(self, "tags", check_tags(tags, f"Field {name!r} tags"))

    def to_arrow(self) -> pa.Field:
        """The Arrow field of this column (nullable)."""
        return pa.field(self.name, self.dtype.to_arrow())
