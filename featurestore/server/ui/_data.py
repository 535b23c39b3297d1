"""The Data pages: a table's rows at a ref (paged) and its columns' profiles, compared
between two refs (drift between a branch and the default branch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from markupsafe import Markup
from starlette.responses import Response

from featurestore.errors import NotFoundError
from featurestore.server._errors import HTTPError
from featurestore.server.ui import _charts
from featurestore.server.ui._pages import Page, page
from featurestore.server.ui._profiles import (
    ColumnProfile,
    TableProfile,
    compare,
    profile,
    rows_page,
    table_names,
)

MAX_OFFSET = 10**12
DRIFT_HIGH = 0.25
"""PSI above which a column is flagged as drifted (the usual reading of PSI)."""
DRIFT_SOME = 0.1


def _table(p: Page) -> tuple[list[str], str | None]:
    """The tables at the page's ref and the one asked for (the first by default)."""
    names = table_names(p.store, p.ref)
    wanted = p.arg("table")
    if wanted and wanted not in names:
        raise HTTPError(
            404,
            "not_found",
            f"no table {wanted!r} at {p.ref!r}; tables there: {', '.join(names) or '(none)'}",
        )
    return names, wanted or (names[0] if names else None)


@dataclass(frozen=True)
class ColumnView:
    """One column's row on the profile page: both sides, the chart, the drift."""

    name: str
    type: str
    kind: str
    left: ColumnProfile
    right: ColumnProfile | None
    chart: Markup
    drift: float | None

    @property
    def drift_class(self) -> str:
        if self.drift is None:
            return "muted"
        return "bad" if self.drift > DRIFT_HIGH else ("chg" if self.drift > DRIFT_SOME else "good")


def _range(c: ColumnProfile) -> str:
    if c.low is None or c.high is None:
        return ""
    label = _charts.time_label if c.kind == "time" else _charts.number_label
    return f"{label(c.low)} to {label(c.high)}"


def _chart(name: str, left: ColumnProfile, right: ColumnProfile | None) -> Markup:
    sides = [left] if right is None else [left, right]
    if left.bins:
        label = _charts.time_label if left.kind == "time" else _charts.number_label
        edges = [(b.low, b.high) for b in left.bins]
        series = [[b.count for b in s.bins] if len(s.bins) == len(edges) else [0] * len(edges)
                  for s in sides]  # fmt: skip
        return _charts.histogram(f"{name}: distribution", edges, series, label)
    if left.kind == "text":
        labels: list[str] = []
        for s in sides:
            labels += [v for v, _ in s.top if v not in labels]
        counts = [[dict(s.top).get(v, 0) for v in labels] for s in sides]
        totals = [s.rows - s.nulls for s in sides]
        return _charts.bars(f"{name}: top values", labels[:10], [c[:10] for c in counts], totals)
    return Markup('<span class="muted">no chart for this type</span>')


def _columns(
    left: TableProfile, right: TableProfile | None, drift: dict[str, Any]
) -> list[ColumnView]:
    out = []
    for c in left.columns:
        other = right.column(c.name) if right is not None else None
        out.append(
            ColumnView(
                c.name, c.type, c.kind, c, other, _chart(c.name, c, other), drift.get(c.name)
            )
        )
    return out


@page("/data", "data", nav="Data", order=50)
def data(p: Page) -> Response:
    """A table's profile at the ref, beside the ``against`` ref's (default: the default
    branch, when the ref is another one)."""
    names, table = _table(p)
    default_against = p.default_branch if p.ref != p.default_branch else ""
    against = p.arg("against") if "against" in p.params else default_against
    if against:
        p.resolve(against)  # an unknown ref: a 404 page naming it
    context: dict[str, Any] = {"tables": names, "table": table, "against": against}
    if table is None:
        return p.render("data.html", left=None, right=None, columns=[], missing="", **context)
    missing = ""
    if against:
        try:
            comparison = compare(p.store, p.ref, against, table)
        except NotFoundError:
            missing = f"table {table!r} does not exist at {against!r}: nothing to compare"
            comparison = None
    else:
        comparison = None
    if comparison is not None:
        left, right, drift = comparison.left, comparison.right, comparison.drift
    else:
        left, right, drift = profile(p.store, p.ref, table), None, {}
    return p.render(
        "data.html",
        left=left,
        right=right,
        columns=_columns(left, right, drift),
        missing=missing,
        value_range=_range,
        drift_high=DRIFT_HIGH,
        **context,
    )


def _cell(value: Any, short_float: bool) -> str:
    """A value as the rows page shows it: a 32-bit float to the digits it holds."""
    if value is None:
        return ""
    if short_float and isinstance(value, float):
        return f"{value:.7g}"
    return str(value)


@page("/data/rows", "data_rows")
def data_rows(p: Page) -> Response:
    """A page of a table's rows at the ref, in stored order (``offset``, ``limit``)."""
    names, table = _table(p)
    raw = p.arg("offset", "0")
    if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_OFFSET):
        raise HTTPError(
            400, "bad_request", f"`offset` must be a whole number from 0 to {MAX_OFFSET}"
        )
    offset, limit = int(raw), p.limit
    if table is None:
        return p.render("data_rows.html", tables=names, table=None, rows=None, cells=[])
    rows = rows_page(p.store, p.ref, table, offset, limit)
    short = [pa.types.is_float32(f.type) or pa.types.is_float16(f.type) for f in rows.rows.schema]
    cells = [
        [_cell(v, s) for v, s in zip(row.values(), short, strict=True)]
        for row in rows.rows.to_pylist()
    ]
    return p.render(
        "data_rows.html",
        tables=names,
        table=table,
        rows=rows,
        cells=cells,
        columns=rows.rows.schema.names,
        previous=max(offset - limit, 0),
        following=offset + limit,
    )
