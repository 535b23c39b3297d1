"""Reading command-line values: dates, feature lists, entity rows and data files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurestore.errors import ValidationError

__all__ = ["parse_entity_row", "parse_value", "parse_when", "read_table", "split_names"]

DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".json", ".jsonl", ".arrow", ".feather")


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (naive means UTC), or ``now``, as an aware UTC datetime."""
    if text.strip().lower() == "now":
        return now or datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"invalid date {text!r}: use ISO 8601 (2025-01-31, 2025-01-31T12:00:00Z) or 'now'"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def split_names(values: Iterable[str] | None) -> list[str]:
    """Repeated and comma-separated option values as one list, blanks dropped."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def parse_value(text: str) -> Any:
    """A command-line value as an int, a float, a boolean or else the string itself."""
    try:
        return int(text)
    except ValueError:
        pass
    if any(c.isdigit() for c in text):
        try:
            return float(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def parse_entity_row(text: str) -> dict[str, Any]:
    """``driver_id=1001,val_to_add=2`` as one entity row (join keys and request data)."""
    row: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(
                f"invalid --entity {text!r}: use key=value, several joined by commas"
            )
        row[key] = parse_value(value.strip())
    return row


def read_table(path: Path, schema: pa.Schema | None = None) -> pa.Table:
    """A Parquet, CSV, JSON-lines or Arrow IPC file as an Arrow table.

    Text formats carry no types: with ``schema`` (the target table's), their columns
    are parsed as its types, so ``1.5`` reads as the table's float32, not float64.
    """
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise ValidationError(
            f"cannot read {path}: unknown file type {suffix or '(none)'!r}; "
            f"use one of {', '.join(DATA_SUFFIXES)}"
        )
    if not path.exists() or path.is_dir():
        raise ValidationError(f"no file at {path}")
    # A named pipe cannot seek: read what streams in first, then parse it.
    source: Path | pa.BufferReader = (
        path if path.is_file() else pa.BufferReader(pa.py_buffer(path.read_bytes()))
    )
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_table(source)
    if suffix == ".csv":
        import pyarrow.csv as csv

        types = {f.name: f.type for f in schema} if schema is not None else None
        try:
            return csv.read_csv(source, convert_options=csv.ConvertOptions(column_types=types))
        except pa.ArrowInvalid as e:
            raise _csv_error(path, str(e), types) from None
    if suffix in (".json", ".jsonl"):
        import pyarrow.json as pj

        return pj.read_json(source, parse_options=pj.ParseOptions(explicit_schema=schema))
    import pyarrow.feather as feather

    return feather.read_table(source)


def _csv_error(path: Path, message: str, types: dict[str, pa.DataType] | None) -> ValidationError:
    """Arrow's CSV error said with the column's name and the type the table wants."""
    import re

    found = re.match(r"In CSV column #(\d+): CSV conversion error to (\w+): (.*)", message)
    if found is None or not path.is_file():
        return ValidationError(f"cannot read {path}: {message}")
    index, wanted, what = int(found[1]), found[2], found[3]
    with path.open(encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\r\n").split(",")
    name = header[index].strip('"') if index < len(header) else f"#{index + 1}"
    if types is not None and name in types:
        wanted = str(types[name])
    return ValidationError(
        f"cannot read {path}: column {name!r} holds {wanted} values, but it has an {what}; "
        "fix the file and ingest it again"
    )
