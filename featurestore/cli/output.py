"""Machine-readable output: ``--json`` documents and ``--output FILE`` tables.

Every ``--json`` prints one JSON document on stdout (times as ISO 8601 strings in
UTC, full commit ids); listings print an array of objects.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import typer

from featurestore.errors import ValidationError
from repos import Change, Commit, ObjectInfo

__all__ = [
    "OUTPUT_SUFFIXES",
    "change_json",
    "commit_json",
    "emit_json",
    "object_json",
    "rows_json",
    "write_table",
]

OUTPUT_SUFFIXES: Final = (".parquet", ".csv", ".json", ".jsonl")


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def emit_json(data: Any) -> None:
    """Print ``data`` as one indented JSON document on stdout."""
    typer.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def commit_json(c: Commit) -> dict[str, Any]:
    """A commit as JSON-ready data (full id, parents, time in UTC)."""
    return {
        "id": c.id,
        "parents": list(c.parents),
        "message": c.message,
        "author": c.author,
        "creation_date": c.creation_date.isoformat(),
        "metadata": dict(c.metadata),
    }


def change_json(c: Change) -> dict[str, Any]:
    """A changed path as JSON-ready data."""
    return {"type": c.type, "path": c.path, "size": c.size}


def object_json(o: ObjectInfo) -> dict[str, Any]:
    """An object at a ref as JSON-ready data (no physical address: that is local)."""
    return {"path": o.path, "size": o.size, "checksum": o.checksum}


def rows_json(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow table as a list of row objects."""
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` in the format its suffix names.

    ``.parquet``: Parquet; ``.csv``: CSV with a header; ``.json``: one array of row
    objects; ``.jsonl``: one row object per line.
    """
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValidationError(
            f"cannot write {path}: unknown file type {suffix or '(none)'!r}; "
            f"use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif suffix == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    elif suffix == ".json":
        path.write_text(json.dumps(rows_json(table), default=_default, ensure_ascii=False) + "\n")
    else:
        with path.open("w") as f:
            for row in rows_json(table):
                f.write(json.dumps(row, default=_default, ensure_ascii=False) + "\n")
