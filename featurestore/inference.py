"""What ``apply`` infers from the data, as Feast does: join key types and features.

Features: a feature view whose schema lists no features (Feast lets ``schema`` be left
out) gets one ``Field`` per column of its source's data that is not a join key or a
timestamp column, typed from the ``FileSource``'s Parquet schema (else the existing
table's schema).

Join keys: Feast lets ``Entity(name=..., join_keys=[...])`` leave the key type out and infers it
from the data when definitions are applied. So does ``apply`` here, per join key, from
the first of: a field of that name in a view's schema, the column of that name in the
view's existing table, the Parquet schema of the view's ``FileSource`` (after its
``field_mapping``). The inferred type is stored with the entity (or, when an entity's
keys have different types, as key fields of its views), so the registry, the plan and
every later load see the same typed keys, and lookups type-check them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_view import FeatureView
from featurestore.definitions.field import Field
from featurestore.definitions.project import Project
from featurestore.definitions.sources import FileSource
from featurestore.errors import DefinitionError
from featurestore.file_sources import file_schema
from featurestore.types import DataType, from_arrow

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

__all__ = [
    "TableSchema",
    "check_project",
    "infer_features",
    "infer_join_key_types",
    "prepare_definitions",
]

TableSchema = Callable[[str], pa.Schema | None]
"""The schema of an existing table by name, or None when the table does not exist."""


def check_project(objects: Iterable[object], project: str) -> None:
    """Refuse a ``Project`` whose name is not the configured project's."""
    for obj in objects:
        if isinstance(obj, Project) and obj.name != project:
            raise DefinitionError(
                f"the definitions declare Project(name={obj.name!r}) but this project is "
                f"{project!r} (from its configuration file); rename one so they agree"
            )


def _source_schema(
    view: FeatureView, table_schema: TableSchema, project_dir: Path
) -> tuple[pa.Schema, str] | None:
    """The columns of a view's source data and where they were read, if known."""
    table = view.source.batch_source
    if isinstance(table, FileSource):
        return file_schema(table, project_dir), f"file {table.path!r}"
    stored = table_schema(table.table)
    if stored is not None:
        return stored, f"table {table.table!r}"
    return None


def infer_features(
    objects: Iterable[object], table_schema: TableSchema, project_dir: Path
) -> list[object]:
    """``objects`` with each view that lists no features given its source's columns."""
    out: list[object] = []
    for obj in objects:
        if not isinstance(obj, FeatureView) or obj.features or obj.aggregations:
            out.append(obj)
            continue
        found = _source_schema(obj, table_schema, project_dir)
        if found is None:
            out.append(obj)
            continue
        schema, where = found
        source = obj.source.batch_source
        skip = {*obj.join_keys, source.timestamp_field, source.created_timestamp_column}
        fields = list(obj.schema)
        for column in schema:
            if column.name in skip:
                continue
            try:
                fields.append(Field(name=column.name, dtype=from_arrow(column.type)))
            except DefinitionError as e:
                raise DefinitionError(
                    f"feature view {obj.name!r} lists no features, and column {column.name!r} "
                    f"of {where} cannot be one: {e}. List the view's features in its schema"
                ) from e
        out.append(dataclasses.replace(obj, schema=tuple(fields)))
    return out


def _key_type(
    view: FeatureView, key: str, table_schema: TableSchema, project_dir: Path
) -> tuple[DataType, str] | None:
    """The type of ``key`` in ``view`` and where it was read, or None when nothing says it."""
    for f in view.schema:
        if f.name == key:
            return f.dtype, f"the schema of view {view.name!r}"
    table = view.source.batch_source
    stored = table_schema(table.table)
    if stored is not None and key in stored.names:
        return from_arrow(stored.field(key).type), f"table {table.table!r}"
    if isinstance(table, FileSource):
        schema = file_schema(table, project_dir)
        if key in schema.names:
            return from_arrow(schema.field(key).type), f"file {table.path!r}"
    return None


def infer_join_key_types(
    objects: Iterable[object], table_schema: TableSchema, project_dir: Path
) -> list[object]:
    """``objects`` with every untyped entity that a view uses given its inferred key type.

    The same key inferred as two types in two views, or a key whose type nothing says,
    is a DefinitionError naming the entity and what to do.
    """
    items = list(objects)
    views = [o for o in items if isinstance(o, FeatureView)]
    untyped: dict[str, Entity] = {}
    for obj in [*items, *(e for v in views for e in v.entities)]:
        if isinstance(obj, Entity) and obj.value_type is None:
            untyped.setdefault(obj.name, obj)
    if not untyped:
        return items
    found: dict[tuple[str, str], tuple[DataType, str]] = {}
    for view in views:
        for entity in view.entities:
            if entity.name not in untyped:
                continue
            for key in entity.join_keys:
                typed = _key_type(view, key, table_schema, project_dir)
                if typed is None:
                    continue
                seen = found.setdefault((entity.name, key), typed)
                if seen[0] != typed[0]:
                    raise DefinitionError(
                        f"entity {entity.name!r}: join key {key!r} is {seen[0]} in {seen[1]} "
                        f"but {typed[0]} in {typed[1]}; make them agree, or give the Entity "
                        "a value_type (e.g. value_type=ValueType.INT64)"
                    )
    resolved: dict[str, Entity] = {}
    key_fields: dict[str, list[Field]] = {}
    for name, entity in untyped.items():
        users = [v.name for v in views if any(e.name == name for e in v.entities)]
        if not users:
            continue
        missing = [k for k in entity.join_keys if (name, k) not in found]
        if missing:
            raise DefinitionError(
                f"entity {name!r}: the type of join key(s) {missing} is unknown: no view "
                f"({', '.join(users)}) declares it as a Field, and no existing table or "
                "FileSource has that column. Give the Entity a value_type (e.g. "
                "value_type=ValueType.INT64), add Field(name=..., dtype=...) to a view's "
                "schema, or ingest data with the column first"
            )
        types = {found[(name, k)][0] for k in entity.join_keys}
        if len(types) == 1:
            resolved[name] = dataclasses.replace(entity, value_type=types.pop())
        else:
            key_fields[name] = [Field(name=k, dtype=found[(name, k)][0]) for k in entity.join_keys]
    if not resolved and not key_fields:
        return items
    return [_retyped(o, resolved, key_fields) for o in items]


def _retyped(
    obj: object, resolved: dict[str, Entity], key_fields: dict[str, list[Field]]
) -> object:
    if isinstance(obj, Entity):
        return resolved.get(obj.name, obj)
    if not isinstance(obj, FeatureView):
        return obj
    if not any(e.name in resolved or e.name in key_fields for e in obj.entities):
        return obj
    declared = {f.name for f in obj.schema}
    extra = [f for e in obj.entities for f in key_fields.get(e.name, ()) if f.name not in declared]
    return dataclasses.replace(
        obj,
        entities=tuple(resolved.get(e.name, e) for e in obj.entities),
        schema=(*extra, *obj.schema),
    )


def prepare_definitions(
    store: FeatureStore, objects: Iterable[object], branch: str
) -> list[object]:
    """``objects`` checked against the project and with join key types inferred (``apply``).

    Reads the schemas of the tables on ``branch`` and of the views' ``FileSource`` files.
    """
    items = list(objects)
    check_project(items, store.config.project)
    if not any(isinstance(o, Entity | FeatureView) for o in items):
        return items
    with translated():
        b = store.repository.branch(branch)
        existing = set(store.tables.tables(b))

    def table_schema(table: str) -> pa.Schema | None:
        if table not in existing:
            return None
        with translated():
            return store.tables.schema(b, table)

    items = infer_features(items, table_schema, store.config.project_dir)
    return infer_join_key_types(items, table_schema, store.config.project_dir)
