"""A ``df`` in a request body read as an Arrow table, in every form Feast's server takes.

Feast builds ``pandas.DataFrame(request.df)``, so a column may be a list of values, an
object of row index -> value (what ``DataFrame.to_dict()`` writes), or one value that
every row shares. A ``Map`` or ``Struct`` value may be a JSON object or its JSON text
(what Feast's SDK sends); the store's casts read either. Timestamps arrive as ISO 8601
text and become UTC timestamps (naive text is UTC).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from featurestore.server._errors import HTTPError

__all__ = ["ISO_TIME", "frame"]

ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
"""An ISO 8601 time, matched whole (``fullmatch``) and in ASCII digits only."""
_SCALARS = (str, int, float, bool, type(None))


def _bad(message: str) -> HTTPError:
    return HTTPError(400, "bad_request", message)


def _value_ok(value: object) -> bool:
    """A JSON scalar, an object (a ``Map`` or ``Struct`` value), or a list of scalars."""
    if isinstance(value, (*_SCALARS, dict)):
        return True
    return isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value)


def _lists(df: dict[str, Any], what: str) -> dict[str, list[Any]]:
    """Every column as a list of the same length; scalars broadcast."""
    index: list[str] | None = None
    length: int | None = None
    out: dict[str, list[Any] | None] = {}
    for name, column in df.items():
        if isinstance(column, dict):
            keys = list(column)
            if index is None:
                index = keys
            elif set(keys) != set(index):
                raise _bad(f"`{what}.{name}` names other row indexes than the columns before it")
            column = [column[k] for k in index]
        if isinstance(column, list):
            if length is not None and len(column) != length:
                raise _bad(f"every column in `{what}` must have the same length")
            length = len(column)
            if not all(_value_ok(v) for v in column):
                raise _bad(
                    f"`{what}.{name}` must hold only strings, numbers, booleans, null, "
                    "objects (for Map and Struct features) or lists of scalars"
                )
            out[name] = column
        elif isinstance(column, _SCALARS):
            out[name] = None  # broadcast once the length is known
        else:
            raise _bad(f"`{what}.{name}` must be a list of values, one per row")
    rows = 1 if length is None else length
    return {
        name: column if column is not None else [df[name]] * rows for name, column in out.items()
    }


def _column(name: str, values: list[Any], what: str) -> pa.Array:
    texts = [v for v in values if v is not None]
    if texts and all(isinstance(v, str) and ISO_TIME.fullmatch(v) for v in texts):
        import pandas as pd

        try:
            parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            raise _bad(f"`{what}.{name}` holds a value that is not a valid timestamp") from None
        return pa.Array.from_pandas(parsed)  # nanoseconds: the store checks what it takes
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        raise _bad(f"`{what}.{name}` mixes values of different types") from None


def frame(value: object, max_rows: int, what: str = "df") -> pa.Table:
    """``value`` (a request's ``df``) as a table; 400 when malformed, 413 past ``max_rows``."""
    if not isinstance(value, dict):
        raise _bad(f"`{what}` must be an object of column name -> list of values")
    if not value:
        raise _bad(f"`{what}` must hold at least one column")
    columns = _lists(value, what)
    rows = len(next(iter(columns.values())))
    if rows == 0:
        raise _bad(f"`{what}` must hold at least one row")
    if rows > max_rows:
        raise HTTPError(
            413,
            "too_many_rows",
            f"{rows} rows in one request; this server takes at most {max_rows}",
        )
    return pa.table({name: _column(name, values, what) for name, values in columns.items()})
