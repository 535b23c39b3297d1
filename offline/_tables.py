"""Tables of Parquet objects in a ``repos`` repository, written copy-on-write on a branch.

A table ``N`` is the path prefix ``tables/N/``: ``_schema`` (the Arrow schema, with
key and sort columns in its metadata) and immutable ``part-<digest>.parquet`` objects,
named after their bytes.
A write stages its new objects and its removals as one change (``Branch.stage``), so a
crash stages all of it or none; the caller commits. Part files are written in the
repository's scratch folder, which the repository cleans after a writer dies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import duckdb
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import repos
from offline import _fs
from offline._compute import ComputeEngine
from offline._engine import check_select, corrupt_table_error
from offline._errors import (
    CorruptTableError,
    OfflineError,
    QueryError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
)
from offline._schema import (
    Data,
    as_arrow,
    check_schema,
    conform,
    conformed_batches,
    normalize_schema,
)
from offline._sql import ident, literal, literal_list

__all__ = ["TableStore", "WriteResult"]

_NAME = re.compile(r"^\w[-\w]*$")
_KEYS = b"offline.keys"
_SORT = b"offline.sort_by"
_ROW_GROUP = 128 * 1024
_APPEND_SLICE = 4 * _ROW_GROUP
BranchLike: TypeAlias = str | repos.Branch
RefLike: TypeAlias = str | repos.Reference | repos.Commit


@dataclass(frozen=True)
class WriteResult:
    """What a write staged: rows in and out, repository paths added and removed."""

    rows_written: int
    rows_deleted: int
    files_added: tuple[str, ...]
    files_removed: tuple[str, ...]


@dataclass(frozen=True)
class _Table:
    schema: pa.Schema
    keys: tuple[str, ...]
    sort_by: tuple[str, ...]


class TableStore:
    """Versioned Parquet tables in ``repo``; reads take any ref, writes stage on a branch."""

    def __init__(self, repo: repos.Repository) -> None:
        self.repo = repo

    # -- naming and metadata ------------------------------------------------------------

    @staticmethod
    def _prefix(name: str) -> str:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise OfflineError(
                f"invalid table name {name!r}: use letters, digits, '_' and '-', "
                "starting with a letter, digit or '_'"
            )
        return f"tables/{name}/"

    def _branch(self, branch: BranchLike) -> repos.Branch:
        return branch if isinstance(branch, repos.Branch) else self.repo.branch(branch)

    def _ref(self, ref: RefLike) -> repos.Reference:
        return self.repo.ref(ref)

    def _meta(self, ref: repos.Reference, name: str) -> _Table:
        try:
            raw = ref.object(self._prefix(name) + "_schema").read()
        except repos.NotFoundError as e:
            raise TableNotFoundError(
                f"no table {name!r} at ref {ref.id!r}; create it with create_table first"
            ) from e
        try:
            schema = pa.ipc.read_schema(pa.py_buffer(raw))
            md = schema.metadata or {}
            keys = tuple(json.loads(md.get(_KEYS, b"[]")))
            sort_by = tuple(json.loads(md.get(_SORT, b"[]")))
        except (pa.ArrowException, ValueError) as e:
            raise CorruptTableError(
                f"the schema object of table {name!r} at ref {ref.id!r} is corrupt ({e}): "
                "restore it from an earlier commit (revert the commit that wrote it)"
            ) from e
        return _Table(schema.remove_metadata(), keys, sort_by)

    @staticmethod
    def _schema_bytes(t: _Table) -> bytes:
        md = {_KEYS: json.dumps(list(t.keys)).encode(), _SORT: json.dumps(list(t.sort_by)).encode()}
        return bytes(t.schema.with_metadata(md).serialize().to_pybytes())

    def create_table(
        self,
        branch: BranchLike,
        name: str,
        schema: pa.Schema,
        keys: Sequence[str] = (),
        exist_ok: bool = False,
        sort_by: Sequence[str] = (),
    ) -> pa.Schema:
        """Stage a new empty table; returns its stored schema (timestamps as us, UTC)."""
        b = self._branch(branch)
        stored = normalize_schema(schema)
        for c in (*keys, *sort_by):
            if c not in stored.names:
                raise SchemaMismatchError(
                    c, "a column of the schema", "no such column", f"the schema has {stored.names}"
                )
        t = _Table(stored, tuple(keys), tuple(sort_by or keys))
        obj = b.object(self._prefix(name) + "_schema")
        if obj.exists():
            old = self._meta(b, name)
            if exist_ok and old.schema.equals(stored) and old.keys == t.keys:
                return old.schema
            raise TableExistsError(
                f"table {name!r} already exists on {b.id!r}"
                + (" with another schema or keys" if exist_ok else "; pass exist_ok=True")
            )
        obj.upload(self._schema_bytes(t))
        return stored

    def schema(self, ref: RefLike, name: str) -> pa.Schema:
        """The table's Arrow schema at ``ref``."""
        return self._meta(self._ref(ref), name).schema

    def keys(self, ref: RefLike, name: str) -> tuple[str, ...]:
        """The table's key columns at ``ref``."""
        return self._meta(self._ref(ref), name).keys

    def tables(self, ref: RefLike) -> list[str]:
        """Names of the tables at ``ref``, sorted."""
        out = []
        for o in self._ref(ref).objects("tables/"):
            parts = o.path.split("/")
            if len(parts) == 3 and parts[2] == "_schema":
                out.append(parts[1])
        return sorted(out)

    def _parts(self, ref: repos.Reference, name: str) -> list[repos.ObjectInfo]:
        return [o for o in ref.objects(self._prefix(name)) if o.path.endswith(".parquet")]

    def files(self, ref: RefLike, name: str) -> list[str]:
        """Local paths of the table's Parquet objects at ``ref`` (for DuckDB)."""
        r = self._ref(ref)
        if not r.object(self._prefix(name) + "_schema").exists():  # the parts need no schema
            raise TableNotFoundError(
                f"no table {name!r} at ref {r.id!r}; create it with create_table first"
            )
        return [o.physical_address for o in self._parts(r, name)]

    def read(self, ref: RefLike, name: str) -> pa.Table:
        """The whole table at ``ref`` (small tables and tests)."""
        r = self._ref(ref)
        t = self._meta(r, name)
        files = [o.physical_address for o in self._parts(r, name)]
        if not files:
            return t.schema.empty_table()
        try:
            fs = self.repo.filesystem
            return pa.concat_tables([_fs.read_table(f, fs, schema=t.schema) for f in files])
        except (OSError, pa.ArrowException) as e:
            damaged = corrupt_table_error({name: files}, e, self.repo.filesystem)
            if damaged is None:
                raise
            raise damaged from e

    # -- writes -------------------------------------------------------------------------

    def write(
        self,
        branch: BranchLike,
        name: str,
        data: Data,
        mode: Literal["append", "upsert", "delete"] = "append",
        keys: Sequence[str] | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> WriteResult:
        """Append, upsert by key or delete by key; staged on ``branch``, not committed.

        ``on_rows(n)`` is told how many rows an append has written so far, as it goes
        (nothing is staged until every row is written and checked).

        The data is checked against the schema before anything is staged. Upsert
        replaces the rows whose keys appear in ``data`` (the last of duplicate keys
        in ``data`` wins); delete removes rows whose keys appear in ``data`` (only key
        columns are needed). Both rewrite only the objects that hold such keys.
        """
        b = self._branch(branch)
        meta = self._meta(b, name)
        src = as_arrow(data)
        if mode == "append":
            return self._append(b, name, meta, src, on_rows)
        if mode not in ("upsert", "delete"):
            raise OfflineError(f"unknown write mode {mode!r}; use append, upsert or delete")
        k = tuple(keys) if keys else meta.keys
        if not k:
            raise OfflineError(
                f"{mode} needs key columns: table {name!r} has none, pass keys=[...]"
            )
        for c in k:
            if c not in meta.schema.names:
                raise SchemaMismatchError(c, "a key column of the table", "no such column")
        table = src.read_all() if isinstance(src, pa.RecordBatchReader) else src
        if mode == "upsert":
            new = _last_per_key(conform(table, meta.schema, k), k)
            key_rows = new.select(list(k))
        else:
            key_schema = pa.schema([meta.schema.field(c) for c in k])
            missing = [c for c in k if c not in table.schema.names]
            if missing:
                raise SchemaMismatchError(
                    missing[0],
                    str(key_schema.field(missing[0]).type),
                    "missing column",
                    "delete needs the key columns",
                )
            key_rows = conform(table.select(list(k)), key_schema, k)
            new = None
        return self._rewrite(b, name, meta, key_filter=(k, key_rows), new=new)

    def delete_where(self, branch: BranchLike, name: str, predicate: str) -> WriteResult:
        """Delete the rows matching a DuckDB SQL predicate, rewriting only touched objects."""
        b = self._branch(branch)
        meta = self._meta(b, name)
        check_select(f"SELECT * FROM t WHERE ({predicate})")
        return self._rewrite(b, name, meta, predicate=predicate)

    def compact(
        self,
        branch: BranchLike,
        name: str,
        sort_by: Sequence[str] | None = None,
        target_rows: int = 1_000_000,
        engine: ComputeEngine | None = None,
    ) -> bool:
        """Rewrite the objects smaller than ``target_rows`` into large ones sorted by ``sort_by``.

        Changes no row. Returns False when fewer than two small objects exist. ``engine``
        (Spark, say) sorts the rows when given; otherwise a DuckDB connection does.
        """
        if target_rows < 1:
            raise OfflineError(f"target_rows must be positive, got {target_rows}")
        b = self._branch(branch)
        meta = self._meta(b, name)
        order = tuple(sort_by) if sort_by is not None else meta.sort_by
        for c in order:
            if c not in meta.schema.names:
                raise SchemaMismatchError(c, "a column to sort by", "no such column")
        parts = self._parts(b, name)
        fs = self.repo.filesystem
        small = [
            o
            for o in parts
            if _fs.parquet_file(o.physical_address, fs).metadata.num_rows < target_rows
        ]
        if len(small) < 2:
            return False
        tmp = self.repo.scratch()
        try:
            con = _connect(fs)
            order_sql = f" ORDER BY {', '.join(ident(c) for c in order)}" if order else ""
            paths = [o.physical_address for o in small]
            rows = (
                engine.sorted_rows(paths, order)
                if engine is not None
                else con.sql(
                    f"SELECT * FROM read_parquet({literal_list(paths)}){order_sql}"
                ).to_arrow_reader(_ROW_GROUP)
            )
            items = _write_parts(
                tmp,
                self._prefix(name),
                _cast_batches(rows, meta.schema),
                meta.schema,
                target_rows,
            )
            con.close()
            if order != meta.sort_by:
                new_meta = _Table(meta.schema, meta.keys, order)
                schema_path = self._prefix(name) + "_schema"
                items_b: dict[str, bytes | os.PathLike[str]] = dict(items)
                items_b[schema_path] = self._schema_bytes(new_meta)
                self._stage(b, items_b, [o.path for o in small])
            else:
                self._stage(b, dict(items), [o.path for o in small])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True

    # -- internals ----------------------------------------------------------------------

    def _append(
        self,
        b: repos.Branch,
        name: str,
        meta: _Table,
        src: pa.Table | pa.RecordBatchReader,
        on_rows: Callable[[int], None] | None = None,
    ) -> WriteResult:
        check_schema(src.schema, meta.schema)
        tmp = self.repo.scratch()
        try:
            rows = 0

            def counted() -> Iterator[pa.Table]:
                nonlocal rows
                for t in conformed_batches(src, meta.schema, meta.keys):
                    # Slices of whole row groups: the same bytes as the table written at
                    # once, so a part's name does not depend on how it was fed.
                    for start in range(0, t.num_rows, _APPEND_SLICE):
                        piece = t.slice(start, _APPEND_SLICE)
                        yield piece
                        rows += piece.num_rows
                        if on_rows is not None:
                            on_rows(rows)

            items: dict[str, bytes | os.PathLike[str]] = dict(
                _write_parts(tmp, self._prefix(name), counted(), meta.schema, None)
            )
            # A part is named after its bytes: one already on the branch holds exactly these
            # rows (an append run again), so it is neither staged nor counted again.
            present = [path for path in items if b.object(path).exists()]
            for path in present:
                local = items.pop(path)
                rows -= _rows_in(local)
            if rows == 0 or not items:
                return WriteResult(0, 0, (), ())
            self._stage(b, items, [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return WriteResult(rows, 0, tuple(items), ())

    def _rewrite(
        self,
        b: repos.Branch,
        name: str,
        meta: _Table,
        key_filter: tuple[Sequence[str], pa.Table] | None = None,
        predicate: str | None = None,
        new: pa.Table | None = None,
    ) -> WriteResult:
        """Copy-on-write: rewrite the objects holding matching rows without them, add ``new``."""
        parts = {o.physical_address: o.path for o in self._parts(b, name)}
        con = _connect(self.repo.filesystem)
        tmp = self.repo.scratch()
        try:
            if key_filter is not None:
                k, key_rows = key_filter
                con.register("__fs_keys", key_rows)
                match = "SEMI JOIN __fs_keys k ON " + " AND ".join(
                    f"f.{ident(c)} = k.{ident(c)}" for c in k
                )
                keep = match.replace("SEMI JOIN", "ANTI JOIN", 1)
            else:
                assert predicate is not None
                match = f"WHERE ({predicate})"
                keep = f"WHERE ({predicate}) IS NOT TRUE"
            hit: dict[str, int] = {}
            if parts:
                try:
                    rows = con.sql(
                        f"SELECT __fs_file, count(*) FROM read_parquet("
                        f"{literal_list(list(parts))}, filename='__fs_file') f {match} GROUP BY 1"
                    ).fetchall()
                except duckdb.Error as e:
                    raise QueryError(f"cannot apply the filter to table {name!r}: {e}") from e
                hit = {str(f): int(n) for f, n in rows}
            items: dict[str, bytes | os.PathLike[str]] = {}
            for phys in hit:
                rel = con.sql(f"SELECT * FROM read_parquet({literal(phys)}) f {keep}")
                items.update(
                    _write_parts(
                        tmp,
                        self._prefix(name),
                        _cast_batches(rel.to_arrow_reader(_ROW_GROUP), meta.schema),
                        meta.schema,
                        None,
                        items,
                    )
                )
            if new is not None and new.num_rows:
                items.update(
                    _write_parts(tmp, self._prefix(name), iter([new]), meta.schema, None, items)
                )
            removed = [parts[p] for p in hit]
            if items or removed:
                self._stage(b, items, removed)
        finally:
            con.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return WriteResult(
            new.num_rows if new is not None else 0, sum(hit.values()), tuple(items), tuple(removed)
        )

    @staticmethod
    def _stage(
        b: repos.Branch, items: dict[str, bytes | os.PathLike[str]], removed: Sequence[str]
    ) -> None:
        """Stage the new objects and the removals as one change: all or none.

        A part both removed and written again with the same bytes (a rerun rewriting what
        an earlier run wrote) stays as it is.
        """
        gone = set(removed)
        for path in sorted(gone & items.keys()):
            local = items[path]
            if not isinstance(local, bytes) and _file_digest(Path(local)) == (
                b.object(path).stat().checksum
            ):
                del items[path]
                gone.discard(path)
            else:
                items[path.removesuffix(".parquet") + f"-{uuid.uuid4().hex[:8]}.parquet"] = (
                    items.pop(path)
                )
        if items or gone:
            b.stage(upload=items, delete=[p for p in removed if p in gone])


def _rows_in(part: bytes | os.PathLike[str]) -> int:
    """The row count a written part file holds, from its Parquet footer."""
    source = pa.BufferReader(part) if isinstance(part, bytes) else os.fspath(part)
    return int(pq.ParquetFile(source).metadata.num_rows)


def _connect(fs: fsspec.AbstractFileSystem | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads local paths, and ``fs``'s URLs."""
    con = duckdb.connect(":memory:")
    _fs.register(con, fs)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _cast_batches(reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.Table]:
    for batch in reader:
        yield pa.Table.from_batches([batch]).cast(schema)


def _last_per_key(t: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Rows of ``t`` keeping only the last occurrence of each key, in input order."""
    idx = t.select(list(keys)).append_column("__fs_i", pa.array(np.arange(t.num_rows)))
    last = idx.group_by(list(keys), use_threads=False).aggregate([("__fs_i", "max")])
    if last.num_rows == t.num_rows:
        return t
    return t.take(np.sort(last.column("__fs_i_max").to_numpy()))


def _write_parts(
    tmp: Path,
    prefix: str,
    tables: Iterator[pa.Table],
    schema: pa.Schema,
    max_rows: int | None,
    taken: Mapping[str, object] | None = None,
) -> dict[str, os.PathLike[str]]:
    """Write ``tables`` to new part files (at most ``max_rows`` rows each); path -> file.

    A part is named after its bytes, so writing the same rows again (a rerun after a
    crash) gives the same object at the same path, never a second copy of the rows.
    Parts with equal bytes within one write (``taken``: the paths it already has) get
    distinct names.
    """
    files: list[Path] = []
    writer: pq.ParquetWriter | None = None
    rows = 0

    def new_writer() -> pq.ParquetWriter:
        local = tmp / f"writing-{uuid.uuid4().hex}.parquet"
        files.append(local)
        return pq.ParquetWriter(local, schema, compression="snappy")

    try:
        for t in tables:
            start = 0
            while start < t.num_rows:
                if writer is None or (max_rows is not None and rows >= max_rows):
                    if writer is not None:
                        writer.close()
                    writer, rows = new_writer(), 0
                n = (
                    t.num_rows - start
                    if max_rows is None
                    else min(t.num_rows - start, max_rows - rows)
                )
                writer.write_table(t.slice(start, n), row_group_size=_ROW_GROUP)
                rows += n
                start += n
    finally:
        if writer is not None:
            writer.close()
    out: dict[str, os.PathLike[str]] = {}
    for local in files:
        digest = _file_digest(local)
        path, n = f"{prefix}part-{digest[:32]}.parquet", 1
        while path in out or (taken is not None and path in taken):
            path, n = f"{prefix}part-{digest[:32]}-{n}.parquet", n + 1
        named = local.with_name(path.rsplit("/", 1)[1])
        local.rename(named)
        out[path] = named
    return out


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
