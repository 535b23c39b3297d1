"""``Entity``: what features describe (a driver, a customer), identified by join keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from featurestore.definitions._checks import (
    FrozenDict,
    as_tuple,
    check_name,
    check_tags,
    check_text,
    check_unique,
)
from featurestore.errors import DefinitionError
from featurestore.types import DataType, ValueType, from_arrow, from_value_type

__all__ = ["Entity"]


@dataclass(frozen=True, init=False)
class Entity:
    """An entity with its join keys (default: one key named like the entity).

    ``value_type`` (a type, an Arrow type or Feast's ``ValueType``) is the join keys'
    type; left out, ``apply`` infers it from the views' schemas or source data.
    """

    name: str
    join_keys: tuple[str, ...]
    value_type: DataType | None
    description: str
    tags: FrozenDict[str, str]
    owner: str

    def __init__(
        self,
        *,
        name: str,
        join_keys: Sequence[str] | None = None,
        value_type: DataType | pa.DataType | ValueType | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> None:
        check_name(name, "Entity name")
        keys = (name,) if join_keys is None else as_tuple(join_keys, f"Entity {name!r} join_keys")
        if not keys:
            raise DefinitionError(
                f"Entity {name!r} has no join keys: give at least one, or leave join_keys out "
                f"to use [{name!r}]"
            )
        for key in keys:
            check_name(key, f"Entity {name!r} join key")
        check_unique(keys, f"Entity {name!r} join_keys")
        if isinstance(value_type, pa.DataType):
            value_type = from_arrow(value_type)
        if isinstance(value_type, ValueType):
            value_type = from_value_type(value_type)
        if value_type is not None and not isinstance(value_type, DataType):
            raise DefinitionError(
                f"Entity {name!r}: value_type must be a type such as Int64 or String, "
                f"not {value_type!r}"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "value_type", value_type)
        object.__setattr__(
            self, "description", check_text(description, f"Entity {name!r} description")
        )
        object.__setattr__(self, "tags", check_tags(tags, f"Entity {name!r} tags"))
        object.__setattr__(self, "owner", check_text(owner, f"Entity {name!r} owner"))

    @property
    def join_key(self) -> str:
        """The single join key (Feast's spelling); DefinitionError when there are several."""
        if len(self.join_keys) != 1:
            raise DefinitionError(
                f"Entity {self.name!r} has {len(self.join_keys)} join keys: use .join_keys"
            )
        return self.join_keys[0]
