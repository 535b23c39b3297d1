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
    Feast's ``vector_index``, ``vector_length`` and ``vector_search_metric`` are kept
    in the registry; no vector index is built (there is no vector search here).
    """

    name: str
    dtype: DataType
    description: str
    tags: FrozenDict[str, str]
    vector_index: bool
    vector_length: int
    vector_search_metric: str | None

    def __init__(
        self,
        *,
        name: str,
        dtype: DataType | pa.DataType,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        vector_index: bool = False,
        vector_length: int = 0,
        vector_search_metric: str | None = None,
    ) -> None:
        check_name(name, "Field name")
        if not isinstance(vector_index, bool):
            raise DefinitionError(
                f"Field {name!r}: vector_index must be True or False, not {vector_index!r}"
            )
        if (
            isinstance(vector_length, bool)
            or not isinstance(vector_length, int)
            or (vector_length < 0)
        ):
            raise DefinitionError(
                f"Field {name!r}: vector_length must be a whole number >= 0, not {vector_length!r}"
            )
        if vector_search_metric is not None:
            check_text(vector_search_metric, f"Field {name!r} vector_search_metric")
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
        object.__setattr__(self, "vector_index", vector_index)
        object.__setattr__(self, "vector_length", vector_length)
        object.__setattr__(self, "vector_search_metric", vector_search_metric)

    def to_arrow(self) -> pa.Field:
        """The Arrow field of this column (nullable)."""
        return pa.field(self.name, self.dtype.to_arrow())
