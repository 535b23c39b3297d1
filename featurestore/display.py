"""How results show themselves: a short text table for ``repr``, HTML for notebooks.

Both show at most ``LIMIT`` rows and say how many were left out; values are shortened
so one wide value never hides the others.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["LIMIT", "html_table", "text_table"]

LIMIT = 10
_WIDTH = 24


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def text_table(columns: Mapping[str, Sequence[Any]], limit: int = LIMIT) -> str:
    """Columns as aligned text lines, at most ``limit`` rows, then ``... N more rows``."""
    names = list(columns)
    if not names:
        return "(no columns)"
    n = len(columns[names[0]])
    rows = [[_cell(columns[c][i]) for c in names] for i in range(min(n, limit))]
    widths = [max([len(c), *(len(r[j]) for r in rows)]) for j, c in enumerate(names)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(names, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if n > limit:
        lines.append(f"... {n - limit} more rows")
    return "\n".join(lines)


def html_table(
    columns: Mapping[str, Sequence[Any]],
    caption: str,
    *,
    statuses: Mapping[str, Sequence[str]] | None = None,
    limit: int = LIMIT,
) -> str:
    """Columns as an HTML table; a value whose status is not PRESENT shows that status."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = []
    for i in range(min(n, limit)):
        cells = []
        for c in names:
            status = statuses.get(c) if statuses else None
            if status is not None and status[i] != "PRESENT":
                cells.append(f'<td title="{status[i]}"><i>{status[i].lower()}</i></td>')
            else:
                cells.append(f"<td>{html.escape(_cell(columns[c][i]))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = f"<p>... {n - limit} more rows</p>" if n > limit else ""
    return (
        f"<div><p><b>{html.escape(caption)}</b></p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{more}</div>"
    )
