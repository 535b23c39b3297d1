"""Reading Parquet objects where the repository keeps them: local paths, or URLs of the
repository's fsspec filesystem (``s3://bucket/prefix/objects/...``).

DuckDB reads URLs through the filesystem registered on its connection
(``register_filesystem``), so it never needs the ``httpfs`` extension; pyarrow and
polars read through files that filesystem opens. Those files read by ranged requests:
a footer, then only the column chunks a query needs (s3fs reads ahead by its block
size, 4 MiB for a repository on S3), never the whole object up front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["is_url", "parquet_file", "read_schema", "read_table", "register"]


def is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL rather than a local path."""
    return "://" in path and not path.startswith("file://")


def register(con: duckdb.DuckDBPyConnection, fs: fsspec.AbstractFileSystem | None) -> None:
    """Let ``con`` read ``fs``'s URLs (nothing to do for local files)."""
    if fs is not None:
        con.register_filesystem(fs)


def _needs(fs: fsspec.AbstractFileSystem | None, path: str) -> fsspec.AbstractFileSystem | None:
    if not is_url(path):
        return None
    if fs is None:
        raise OSError(
            f"{path} is a URL but no filesystem was given to read it: open the engine "
            "with the repository's filesystem (Repository.filesystem)"
        )
    return fs


def parquet_file(path: str, fs: fsspec.AbstractFileSystem | None = None) -> pq.ParquetFile:
    """The Parquet file at ``path`` (its footer read; row groups on demand)."""
    remote = _needs(fs, path)
    if remote is None:
        return pq.ParquetFile(path)
    return pq.ParquetFile(remote.open(path, "rb"))


def read_schema(path: str, fs: fsspec.AbstractFileSystem | None = None) -> pa.Schema:
    """The Arrow schema of the Parquet file at ``path`` (its footer only)."""
    remote = _needs(fs, path)
    if remote is None:
        return pq.read_schema(path)
    with remote.open(path, "rb") as f:
        return pq.read_schema(f)


def read_table(
    paths: str | Sequence[str], fs: fsspec.AbstractFileSystem | None = None, **options: Any
) -> pa.Table:
    """The rows of one Parquet file or several (``options`` go to ``pq.read_table``)."""
    if isinstance(paths, str):
        remote = _needs(fs, paths)
        if remote is None:
            return pq.read_table(paths, **options)
        with remote.open(paths, "rb") as f:
            return pq.read_table(f, **options)
    return pa.concat_tables(
        [read_table(p, fs, **options) for p in paths], promote_options="default"
    )
