"""Importing ``FileSource`` Parquet files into their versioned tables at ``apply``.

A ``FileSource`` names a Parquet file or folder outside the repository. ``apply``
imports its rows into the source's table on the branch, so retrieval and
materialization read a table pinned to a commit like any other. The sha256 of the
file's bytes is recorded at ``_featurestore/file_sources/<source>.json`` on the
branch (committed with the data): an unchanged file is not imported again; a changed
file replaces the table's rows with the file's (rows pushed offline into that table
since are replaced too: the file is the source of truth of its table).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.definitions.sources import FileSource, apply_field_mapping
from featurestore.errors import DefinitionError, SchemaError

if TYPE_CHECKING:
    import offline
    import repos
    from featurestore.registry import Registry

__all__ = [
    "FileImport",
    "file_schema",
    "file_sha256",
    "plan_file_imports",
    "read_file_source",
    "staged_file_imports",
]

RECORD_PREFIX: Final = "_featurestore/file_sources/"


def _location(source: FileSource, project_dir: Path) -> Path:
    path = Path(source.path)
    return path if path.is_absolute() else (project_dir / path)


def _files(location: Path) -> list[Path]:
    """The Parquet files read for ``location``: itself, or the files of the folder."""
    if location.is_file():
        return [location]
    return sorted(
        p
        for p in location.rglob("*")
        if p.is_file()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(location).parts)
    )


def _missing(source: FileSource, location: Path) -> DefinitionError:
    return DefinitionError(
        f"FileSource {source.name!r}: no Parquet file or folder at {str(location)!r} "
        f"(path {source.path!r}, relative to the project folder); create it or fix the path"
    )


def file_schema(source: FileSource, project_dir: Path) -> pa.Schema:
    """The Arrow schema of the source's file, with its ``field_mapping`` applied."""
    location = _location(source, project_dir)
    files = _files(location) if location.exists() else []
    if not files:
        raise _missing(source, location)
    try:
        schema = pq.read_schema(files[0])
    except (pa.ArrowInvalid, OSError) as e:
        raise DefinitionError(
            f"FileSource {source.name!r}: {str(files[0])!r} is not a readable Parquet file: {e}"
        ) from e
    return apply_field_mapping(schema.empty_table(), source).schema


def file_sha256(source: FileSource, project_dir: Path) -> str:
    """The sha256 of the source's files: their names (in a folder) and bytes."""
    location = _location(source, project_dir)
    files = _files(location) if location.exists() else []
    if not files:
        raise _missing(source, location)
    digest = hashlib.sha256()
    for f in files:
        name = f.relative_to(location).as_posix() if f != location else f.name
        digest.update(name.encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def read_file_source(source: FileSource, project_dir: Path) -> pa.Table:
    """The source's rows, with its ``field_mapping`` applied."""
    location = _location(source, project_dir)
    files = _files(location) if location.exists() else []
    if not files:
        raise _missing(source, location)
    try:
        table = pq.read_table(location if location.is_dir() else files[0])
    except (pa.ArrowInvalid, OSError) as e:
        raise DefinitionError(
            f"FileSource {source.name!r}: {str(location)!r} could not be read as Parquet: {e}"
        ) from e
    return apply_field_mapping(table, source)


@dataclass(frozen=True)
class FileImport:
    """The rows of one changed file, checked against its table, ready to replace its rows."""

    source: FileSource
    table: str
    rows: pa.Table
    sha256: str
    replace: bool

    def run(self, tables: offline.TableStore, branch: repos.Branch) -> None:
        """Replace the table's rows by the file's and record the file's hash (all staged)."""
        if self.replace:
            tables.delete_where(branch, self.table, "true")
        tables.write(branch, self.table, self.rows, mode="append")
        record = {
            "path": self.source.path,
            "sha256": self.sha256,
            "fingerprint": _fingerprint(self.sha256, self.source, self.rows.schema),
            "rows": self.rows.num_rows,
        }
        branch.object(RECORD_PREFIX + self.source.name + ".json").upload(
            json.dumps(record, sort_keys=True).encode()
        )


def _fingerprint(sha256: str, source: FileSource, schema: pa.Schema) -> str:
    """What an import depends on: the file's bytes, the field mapping and the columns read."""
    what = json.dumps([sha256, dict(source.field_mapping), schema.names], sort_keys=True)
    return hashlib.sha256(what.encode()).hexdigest()


def _recorded(branch: repos.Branch, name: str) -> str | None:
    obj = branch.object(RECORD_PREFIX + name + ".json")
    if not obj.exists():
        return None
    try:
        value = json.loads(obj.read()).get("fingerprint")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def plan_file_imports(
    registry: Registry,
    branch: repos.Branch,
    schemas: Mapping[str, pa.Schema],
    existing: Sequence[str],
    project_dir: Path,
) -> list[FileImport]:
    """The imports ``apply`` must run: file sources whose file changed since last recorded.

    ``schemas`` are the tables' schemas after the apply, ``existing`` the tables that
    exist before it. Every file is read and checked here, before anything is staged, so
    a refused apply leaves nothing behind.
    """
    from offline._errors import SchemaMismatchError
    from offline._schema import conform

    out: list[FileImport] = []
    for source in registry.data_sources:
        if not isinstance(source, FileSource) or source.table not in schemas:
            continue
        schema = schemas[source.table]
        sha = file_sha256(source, project_dir)
        if _recorded(branch, source.name) == _fingerprint(sha, source, schema):
            continue
        rows = read_file_source(source, project_dir)
        absent = [n for n in schema.names if n not in rows.column_names]
        if absent:
            raise SchemaError(
                f"FileSource {source.name!r}: {source.path!r} has no column(s) {absent}, which "
                f"its views read; add them to the file, map them with field_mapping, or "
                "remove them from the views"
            )
        rows = rows.select(schema.names)
        not_null = [source.timestamp_field, *_join_keys(registry, source)]
        try:
            rows = conform(rows, schema, not_null)
        except SchemaMismatchError as e:
            raise SchemaError(f"FileSource {source.name!r} ({source.path!r}): {e}") from e
        out.append(FileImport(source, source.table, rows, sha, source.table in existing))
    return out


def _join_keys(registry: Registry, source: FileSource) -> list[str]:
    """The join keys of the views reading the source's table (they must not be null)."""
    keys = {
        k
        for v in registry.feature_views
        if v.source.batch_source.table == source.table
        for k in v.join_keys
    }
    return sorted(keys)


def staged_file_imports(branch: repos.Branch) -> list[str]:
    """The sources whose files an uncommitted ``apply`` on ``branch`` imported."""
    return sorted(
        c.path[len(RECORD_PREFIX) : -len(".json")]
        for c in branch.uncommitted()
        if c.path.startswith(RECORD_PREFIX) and c.path.endswith(".json")
    )
