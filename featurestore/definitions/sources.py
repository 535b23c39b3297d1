"""Where feature rows come from: tables in the repository, pushes, and request data."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pyarrow as pa

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

__all__ = [
    "DataSource",
    "FileSource",
    "PushMode",
    "PushSource",
    "RequestSource",
    "TableSource",
    "apply_field_mapping",
    "map_table_fields",
]


class PushMode(enum.Enum):
    """Where a push writes (Feast's enum): ``to=PushMode.ONLINE`` equals ``to="online"``."""

    ONLINE = 1
    OFFLINE = 2
    ONLINE_AND_OFFLINE = 3

    @property
    def target(self) -> str:
        """The ``to=`` string of this mode: ``online``, ``offline`` or ``online_and_offline``."""
        return self.name.lower()


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


def apply_field_mapping(data: pa.Table, source: TableSource | PushSource) -> pa.Table:
    """``data`` with its columns renamed by the source's ``field_mapping`` (raw -> feature).

    Columns not in the mapping keep their names; a target that is already a column of
    ``data`` is a DefinitionError (the rename would make two columns of one name).
    """
    mapping = source.batch_source.field_mapping
    if not mapping or not any(name in mapping for name in data.column_names):
        return data
    names = data.column_names
    renamed = [mapping.get(n, n) for n in names]
    for raw, new in zip(names, renamed, strict=True):
        if raw != new and new in names and mapping.get(new, new) == new:
            raise DefinitionError(
                f"source {source.name!r}: field_mapping renames column {raw!r} to {new!r}, "
                f"but the data already has a column {new!r}; drop one of them"
            )
    return data.rename_columns(renamed)


def map_table_fields(data: pa.Table, sources: Iterable[object], table: str) -> pa.Table:
    """``data`` for ``table`` renamed by the ``field_mapping`` of the sources kept in it."""
    for source in sources:
        if isinstance(source, TableSource) and source.table == table and source.field_mapping:
            data = apply_field_mapping(data, source)
    return data


_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def _name_of_path(path: str) -> str:
    stem = PurePath(path).stem or "file_source"
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    return name if not name[0].isdigit() else f"_{name}"


@dataclass(frozen=True, init=False)
class FileSource(TableSource):
    """A Parquet file or folder of Parquet files (Feast's ``FileSource``).

    ``path`` is relative to the project folder (or absolute). ``apply`` imports the
    file's rows into this source's versioned table (named like the source) and records
    the file's sha256 there: an unchanged file is not imported again, a changed file
    replaces the table's rows. Retrieval and materialization read the table, so they
    stay pinned to a commit like any other table.
    """

    path: str
    owner: str

    def __init__(
        self,
        *,
        path: str,
        name: str | None = "",
        timestamp_field: str | None = "",
        created_timestamp_column: str | None = "",
        field_mapping: Mapping[str, str] | None = None,
        file_format: Any = None,
        description: str | None = "",
        tags: Mapping[str, str] | None = None,
        owner: str | None = "",
        event_timestamp_column: str | None = "",
        table: str | None = None,
        s3_endpoint_override: str | None = None,
        connection_ref: Any = None,
    ) -> None:
        if s3_endpoint_override or connection_ref is not None:
            given = "s3_endpoint_override" if s3_endpoint_override else "connection_ref"
            raise DefinitionError(
                f"FileSource {path!r}: {given} is for files in object stores, which are not "
                "read here; copy the Parquet file into the project folder and give its path"
            )
        if not isinstance(path, str) or not path.strip():
            raise DefinitionError(
                f"FileSource path must be a non-empty string (a Parquet file or folder), "
                f"not {path!r}"
            )
        if _URL_RE.match(path):
            raise DefinitionError(
                f"FileSource path {path!r} is a URL; give a local Parquet file or folder "
                "(relative to the project folder), or ingest the rows with store.ingest"
            )
        fmt = getattr(file_format, "name", file_format)
        if fmt not in (None, "parquet", "ParquetFormat"):
            raise DefinitionError(
                f"FileSource {path!r}: file_format {file_format!r} is not supported; "
                "only Parquet files are read"
            )
        source_name = name or _name_of_path(path)
        ts = timestamp_field or event_timestamp_column
        if not ts:
            raise DefinitionError(
                f"FileSource {source_name!r} needs timestamp_field: the column holding each "
                "row's event time"
            )
        super().__init__(
            name=source_name,
            timestamp_field=ts,
            created_timestamp_column=created_timestamp_column or None,
            table=table,
            field_mapping=field_mapping,
            description=description or "",
            tags=tags,
        )
        object.__setattr__(self, "path", path)
        object.__setattr__(
            self, "owner", check_text(owner or "", f"FileSource {source_name!r} owner")
        )


@dataclass(frozen=True, init=False)
class PushSource:
    """Fresh rows pushed by an application; kept in ``batch_source``'s table."""

    name: str
    batch_source: TableSource
    description: str
    tags: FrozenDict[str, str]
    owner: str

    def __init__(
        self,
        *,
        name: str,
        batch_source: TableSource,
        description: str | None = "",
        tags: Mapping[str, str] | None = None,
        owner: str | None = "",
    ) -> None:
        check_name(name, "PushSource name")
        description = description or ""
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
        object.__setattr__(self, "owner", check_text(owner or "", f"PushSource {name!r} owner"))

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
    """Values that arrive with each request (training: columns of the entity frame).

    Feast's ``timestamp_field`` and ``owner`` are kept in the registry; request values
    are taken as they come with each row, so no time column is read from them.
    """

    name: str
    schema: tuple[Field, ...]
    description: str
    tags: FrozenDict[str, str]
    timestamp_field: str | None
    owner: str

    def __init__(
        self,
        *,
        name: str,
        schema: Iterable[Field],
        timestamp_field: str | None = None,
        description: str | None = "",
        tags: Mapping[str, str] | None = None,
        owner: str | None = "",
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
        object.__setattr__(
            self, "description", check_text(description or "", f"{what} description")
        )
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))
        object.__setattr__(
            self,
            "timestamp_field",
            None if not timestamp_field else check_name(timestamp_field, f"{what} timestamp_field"),
        )
        object.__setattr__(self, "owner", check_text(owner or "", f"{what} owner"))


DataSource = TableSource | FileSource | PushSource | RequestSource
"""Any source; names of all sources share one namespace in a registry."""
