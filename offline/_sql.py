"""Quoting of identifiers and literals for generated DuckDB SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = ["ident", "literal", "literal_list", "ts_literal"]


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: Sequence[str]) -> str:
    """A SQL list of string literals."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def ts_literal(value: datetime) -> str:
    """A TIMESTAMPTZ literal of an aware datetime."""
    return f"{literal(value.isoformat())}::TIMESTAMPTZ"
