"""Where feature rows come from: tables in the repository, pushes, and request data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from featurestore.definitions._checks import (
    FrozenDict,
    as_tuple,
    check_instances,
    check_name,
    check_table,
    check_tags,
    check_text,
    check_unique,
)
from featurestore.definitions.field import Field
from featurestore.errors import DefinitionError

__all__ = ["DataSource", "PushSource", "RequestSource", "TableSource"]


@dataclass(frozen=True, init=False)
class TableSource:
    """A versioned table in the repository (``table``, default ``name``).

    ``timestamp_field`` is the event time of each row; ``created_timestamp_column``,
    when given, breaks ties between rows with the same event time (latest wins).
    ``field_mapping`` renames table columns to feature names.
    """

    name: str
    timestamp_field: str
    created_timestamp_column: str | None
    table: str
    field_mapping: FrozenDict[str, str]
    description: str
    tags: FrozenDict[str, str]

    def __init__(
        self,
        *,
        name: str,
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        table: str | None = None,
        field_mapping: Mapping[str, str] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_name(name, "TableSource name")
        what = f"TableSource {name!r}"
        check_name(timestamp_field, f"{what} timestamp_field")
        if created_timestamp_column is not None:
            check_name(created_timestamp_column, f"{what} created_timestamp_column")
            if created_timestamp_column == timestamp_field:
                raise DefinitionError(
                    f"{what}: created_timestamp_column and timestamp_field are both "
                    f"{timestamp_field!r}; they must be different columns (or leave "
                    "created_timestamp_column out)"
                )
        mapping = check_tags(field_mapping, f"{what} field_mapping")
        for target in mapping.values():
            check_name(target, f"{what} field_mapping target")
        check_unique(mapping.values(), f"{what} field_mapping targets")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "timestamp_field", timestamp_field)
        object.__setattr__(self, "created_timestamp_column", created_timestamp_column)
        object.__setattr__(
            self, "table", check_table(name if table is None else table, f"{what} table")
        )
        object.__setattr__(self, "field_mapping", mapping)
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))

    @property
    def batch_source(self) -> TableSource:
        """The table that holds this source's rows (itself)."""
        return self


@dataclass(frozen=True, init=False)
class PushSource:
    """Fresh rows pushed by an application; kept in ``batch_source``'s table."""

    name: str
    batch_source: TableSource
    description: str
    tags: FrozenDict[str, str]

    def __init__(
        self,
        *,
        name: str,
        batch_source: TableSource,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_name(name, "PushSource name")
        if not isinstance(batch_source, TableSource):
            raise DefinitionError(
                f"PushSource {name!r}: batch_source must be a TableSource, not {batch_source!r}"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "batch_source", batch_source)
        object.__setattr__(
            self, "description", check_text(description, f"PushSource {name!r} description")
        )
        object.__setattr__(self, "tags", check_tags(tags, f"PushSource {name!r} tags"))

    @property
    def timestamp_field(self) -> str:
        return self.batch_source.timestamp_field

    @property
    def created_timestamp_column(self) -> str | None:
        return self.batch_source.created_timestamp_column

    @property
    def table(self) -> str:
        return self.batch_source.table


@dataclass(frozen=True, init=False)
class RequestSource:
    """Values that arrive with each request (training: columns of the entity frame)."""

    name: str
    schema: tuple[Field, ...]
    description: str
    tags: FrozenDict[str, str]

    def __init__(
        self,
        *,
        name: str,
        schema: Iterable[Field],
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_name(name, "RequestSource name")
        what = f"RequestSource {name!r}"
        fields = as_tuple(schema, f"{what} schema")
        if not fields:
            raise DefinitionError(f"{what} has an empty schema: list the request fields")
        check_instances(fields, (Field,), f"{what} schema")
        check_unique((f.name for f in fields), f"{what} schema")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "schema", fields)
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))


DataSource = TableSource | PushSource | RequestSource
"""Any source; names of all sources share one namespace in a registry."""
