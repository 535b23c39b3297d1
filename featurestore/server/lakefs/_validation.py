"""What a lakeFS client may write under the feature store's own prefixes.

A lakeFS client can write any path, but two prefixes hold the feature store's own
objects, which every reader trusts to be well formed:

- ``tables/<name>/``: a table (``offline.TableStore``): its ``_schema`` (an Arrow IPC
  schema, timestamps as ``timestamp[us, UTC]``, key columns in its metadata) and its
  ``*.parquet`` parts. A part must be Parquet whose every row group decodes, with
  exactly the table's columns, in its order and of its types (the engines read parts
  together without casting); the table's ``_schema`` must be on the branch first. A
  ``_schema`` that differs from the one already there is refused (a table's schema
  does not change under its parts). Nothing else lives under a table's prefix.
- ``_featurestore/``: JSON records. ``_featurestore/registry.json`` must load as a
  registry (as ``featurestore apply`` writes it) and each on-demand view's stored
  source must pass ``check_source``, the stored-code rule that ``apply`` enforces; it
  stays data that runs only once trusted (``featurestore.trust``).

A write that breaks these is refused (``LakeFSError`` 400, saying what was wrong and
what to do) before anything is staged. Deleting a table's ``_schema`` while parts of it
stay is refused too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import BinaryIO, Final

import pyarrow as pa
import pyarrow.parquet as pq

import offline
import repos
from featurestore.definitions.udf_source import check_source
from featurestore.errors import DefinitionError
from featurestore.registry import REGISTRY_PATH, Registry
from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["REGISTRY_PREFIX", "TABLES_PREFIX", "check_deletes", "check_write", "guarded"]

TABLES_PREFIX: Final = "tables/"
REGISTRY_PREFIX: Final = "_featurestore/"
MAX_JSON_BYTES: Final = 64 << 20
"""The largest JSON record accepted under ``_featurestore/`` (a registry is far smaller)."""
_TABLE_PATH: Final = re.compile(r"^tables/(\w[-\w]*)/(.+)$")
_SCHEMA: Final = "_schema"
_KEYS: Final = b"offline.keys"
_SORT: Final = b"offline.sort_by"
_API: Final = (
    "or write it through the feature store's own API (FeatureStore.write_to_offline_store)"
)

Opener = Callable[[], BinaryIO]


def _refuse(message: str) -> LakeFSError:
    return LakeFSError(400, message)


def guarded(path: str) -> bool:
    """Whether ``path`` is under one of the feature store's own prefixes."""
    return path.startswith((TABLES_PREFIX, REGISTRY_PREFIX))


def check_write(branch: repos.Branch, path: str, content: Opener) -> None:
    """Refuse (400) a write of ``content`` at ``path`` that the feature store could not
    read back; paths outside its prefixes pass unread."""
    if path.startswith(TABLES_PREFIX):
        _check_table_object(branch, path, content)
    elif path.startswith(REGISTRY_PREFIX):
        _check_record(path, content)


def check_deletes(branch: repos.Branch, paths: Iterable[str]) -> None:
    """Refuse (400) deleting a table's ``_schema`` while parts of that table stay."""
    gone = set(paths)
    for path in sorted(gone):
        m = _TABLE_PATH.match(path)
        if m is None or m.group(2) != _SCHEMA:
            continue
        prefix = f"{TABLES_PREFIX}{m.group(1)}/"
        left = [o.path for o in branch.objects(prefix) if o.path not in gone and o.path != path]
        if left:
            raise _refuse(
                f"cannot delete {path}: table {m.group(1)!r} still has {len(left)} object(s) "
                f"such as {left[0]}; delete them in the same request (or the whole prefix "
                f"{prefix}) to drop the table"
            )


# -- tables ------------------------------------------------------------------------


def _check_table_object(branch: repos.Branch, path: str, content: Opener) -> None:
    m = _TABLE_PATH.match(path)
    if m is None:
        raise _refuse(
            f"cannot write {path}: under {TABLES_PREFIX} live only tables, as "
            f"{TABLES_PREFIX}<table>/_schema and {TABLES_PREFIX}<table>/<part>.parquet, where "
            "<table> is letters, digits, '_' and '-'; write other objects outside "
            f"{TABLES_PREFIX}"
        )
    table, name = m.group(1), m.group(2)
    if name == _SCHEMA:
        _check_schema_object(branch, path, table, content)
    elif name.endswith(".parquet"):
        _check_part(branch, path, table, content)
    else:
        raise _refuse(
            f"cannot write {path}: a table's prefix holds only its _schema and *.parquet "
            f"parts; name the object <part>.parquet or write it outside {TABLES_PREFIX}"
        )


def _stored_schema(branch: repos.Branch, path: str, table: str) -> pa.Schema:
    try:
        return offline.TableStore(branch.repository).schema(branch, table)
    except offline.TableNotFoundError as e:
        raise _refuse(
            f"cannot write {path}: there is no table {table!r} on branch {branch.id!r}; "
            f"create it first (featurestore apply, or upload its {TABLES_PREFIX}{table}/_schema)"
        ) from e
    except offline.CorruptTableError as e:
        raise _refuse(f"cannot write {path}: {e}") from e


def _describe(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in schema)


def _check_part(branch: repos.Branch, path: str, table: str, content: Opener) -> None:
    expected = _stored_schema(branch, path, table)
    with content() as f:
        try:
            parquet = pq.ParquetFile(f)
            found = parquet.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as e:
            raise _refuse(
                f"cannot write {path}: it is not a Parquet file ({e}); upload Parquet "
                f"written with table {table!r}'s schema ({_describe(expected)})"
            ) from e
        same = found.names == expected.names and all(
            a.type == b.type for a, b in zip(found, expected, strict=True)
        )
        if not same:
            raise _refuse(
                f"cannot write {path}: its columns ({_describe(found)}) are not table "
                f"{table!r}'s ({_describe(expected)}); write the part with exactly these "
                f"columns, in this order and of these types (timestamps as timestamp[us, "
                f"tz=UTC]), {_API}, which casts"
            )
        try:
            for _ in parquet.iter_batches(batch_size=64 * 1024):
                pass
        except (pa.ArrowException, OSError, ValueError) as e:
            raise _refuse(
                f"cannot write {path}: its rows do not decode ({e}); upload a whole, valid "
                "Parquet file"
            ) from e


def _check_schema_object(branch: repos.Branch, path: str, table: str, content: Opener) -> None:
    with content() as f:
        raw = f.read(MAX_JSON_BYTES + 1)
    try:
        schema = pa.ipc.read_schema(pa.py_buffer(raw))
        meta = schema.metadata or {}
        keys = json.loads(meta.get(_KEYS, b"[]"))
        sort_by = json.loads(meta.get(_SORT, b"[]"))
    except (pa.ArrowException, ValueError) as e:
        raise _refuse(
            f"cannot write {path}: a table's _schema is an Arrow IPC schema and this is not "
            f"one ({e}); create tables with featurestore apply, or upload "
            "pyarrow.Schema.serialize() bytes"
        ) from e
    for what, cols in (("offline.keys", keys), ("offline.sort_by", sort_by)):
        if not isinstance(cols, list) or not all(
            isinstance(c, str) and c in schema.names for c in cols
        ):
            raise _refuse(
                f"cannot write {path}: its {what} metadata must be a JSON list of its "
                f"columns ({schema.names}); fix the metadata or leave it out"
            )
    bare = schema.remove_metadata()
    odd = [
        f.name
        for f in bare
        if pa.types.is_timestamp(f.type) and f.type != pa.timestamp("us", tz="UTC")
    ]
    if odd:
        raise _refuse(
            f"cannot write {path}: column {odd[0]!r} is {bare.field(odd[0]).type}; a table "
            "stores timestamps as timestamp[us, tz=UTC]: cast the schema's timestamps to it"
        )
    try:
        old = offline.TableStore(branch.repository).schema(branch, table)
    except offline.TableNotFoundError:
        return
    except offline.CorruptTableError:
        return  # replacing a damaged schema is how it is repaired
    if not old.equals(bare):
        raise _refuse(
            f"cannot write {path}: table {table!r} on branch {branch.id!r} already has "
            f"another schema ({_describe(old)}); a table's schema does not change under its "
            "parts: write a new table, or change the feature view and apply it"
        )


# -- feature store records ----------------------------------------------------------


def _check_record(path: str, content: Opener) -> None:
    if not path.endswith(".json"):
        raise _refuse(
            f"cannot write {path}: under {REGISTRY_PREFIX} live only the feature store's "
            f"JSON records; write other objects outside {REGISTRY_PREFIX}"
        )
    with content() as f:
        raw = f.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise _refuse(
            f"cannot write {path}: a feature store record is at most {MAX_JSON_BYTES} bytes"
        )
    if path == REGISTRY_PATH:
        _check_registry(path, raw)
        return
    try:
        json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise _refuse(f"cannot write {path}: it is not JSON ({e}); upload valid JSON") from e


def _check_registry(path: str, raw: bytes) -> None:
    try:
        registry = Registry.from_json(raw)
        for view in registry.on_demand_feature_views:
            check_source(view.udf_source, view.name)
    except DefinitionError as e:
        raise _refuse(
            f"cannot write {path}: these are not definitions the feature store can load "
            f"({e}); change definitions with featurestore apply, or upload a registry.json "
            "that it wrote"
        ) from e
