"""A table's rows and per-column profiles at a ref, computed by DuckDB on its files.

Nothing here loads a table: rows come a page at a time (``LIMIT``/``OFFSET`` over the
commit's Parquet objects, in their stored order), and a profile is three aggregate
queries (counts and ranges; histogram bins; top values) whatever the table's size.
Two refs are profiled on shared bin edges, so their distributions compare bin for
bin, with a population stability index (PSI) as a one-number drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.errors import NotFoundError

if TYPE_CHECKING:
    import offline
    from featurestore.store import FeatureStore

__all__ = [
    "BINS",
    "TOP",
    "Bin",
    "ColumnProfile",
    "Comparison",
    "RowsPage",
    "TableProfile",
    "compare",
    "profile",
    "rows_page",
    "table_names",
]

BINS = 20
"""Histogram bins per numeric column (at most)."""
TOP = 8
"""Top values kept per text column."""
Kind = Literal["number", "time", "text", "other"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Bin:
    """One histogram bin ``[low, high)`` (the last one closed) and its rows."""

    low: float
    high: float
    count: int


@dataclass(frozen=True)
class ColumnProfile:
    """One column at one ref: its nulls, and its histogram or top values."""

    name: str
    type: str
    kind: Kind
    rows: int
    nulls: int
    low: float | None = None
    """Smallest finite value (numbers; epoch seconds for times)."""
    high: float | None = None
    bins: tuple[Bin, ...] = ()
    top: tuple[tuple[str, int], ...] = ()
    distinct: int | None = None
    """Approximate distinct values (text)."""

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class TableProfile:
    """A table at a ref: rows, freshness (latest event time) and its columns' profiles."""

    table: str
    ref: str
    commit_id: str
    rows: int
    time_column: str | None
    freshness: datetime | None
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class RowsPage:
    """One page of a table's rows at a ref, in stored order."""

    table: str
    ref: str
    offset: int
    limit: int
    total: int
    rows: pa.Table

    @property
    def has_next(self) -> bool:
        shown: int = self.rows.num_rows
        return self.offset + shown < self.total


@dataclass(frozen=True)
class Comparison:
    """A table profiled at two refs on shared bins; ``drift`` is each column's PSI."""

    left: TableProfile
    right: TableProfile
    drift: dict[str, float | None] = field(default_factory=dict)


def _kind(t: pa.DataType) -> Kind:
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
        return "text"
    return "other"


def _engine(store: FeatureStore) -> offline.ComputeEngine:
    """A DuckDB engine over the store's files: the store's own unless it runs Spark."""
    if store.config.offline_store.type in ("duckdb", "gpu"):
        return store.engine
    engine: offline.ComputeEngine | None = getattr(store, "_ui_duckdb", None)
    if engine is None:
        import offline

        engine = offline.open_engine("duckdb")
        store._ui_duckdb = engine  # type: ignore[attr-defined]
    return engine


@dataclass(frozen=True)
class _Bound:
    """A table's files and schema at a resolved commit."""

    table: str
    ref: str
    commit_id: str
    files: list[str]
    schema: pa.Schema

    def sql(self, store: FeatureStore, query: str) -> pa.Table:
        with translated():
            return _engine(store).sql(query, {"t": self.files}, {"t": self.schema})


def table_names(store: FeatureStore, ref: str) -> list[str]:
    """The tables at ``ref``, sorted."""
    with translated():
        return store.tables.tables(store.repository.ref(ref))


def _bind(store: FeatureStore, ref: str, table: str) -> _Bound:
    with translated():
        at = store.repository.ref(ref)
        commit = at.resolve()
        names = store.tables.tables(at)
        if table not in names:
            raise NotFoundError(
                f"no table {table!r} at {ref!r}; tables there: {', '.join(names) or '(none)'}"
            )
        return _Bound(
            table, ref, commit, store.tables.files(at, table), store.tables.schema(at, table)
        )


def rows_page(store: FeatureStore, ref: str, table: str, offset: int, limit: int) -> RowsPage:
    """Rows ``offset`` to ``offset + limit`` of ``table`` at ``ref``, and the row count."""
    bound = _bind(store, ref, table)
    total = int(bound.sql(store, "SELECT count(*) AS n FROM t").column(0)[0].as_py())
    rows = bound.sql(store, f"SELECT * FROM t LIMIT {int(limit)} OFFSET {int(offset)}")
    return RowsPage(table, ref, offset, limit, total, rows)


def time_column(store: FeatureStore, ref: str, table: str, schema: pa.Schema) -> str | None:
    """The event time column of ``table``: its sources' ``timestamp_field``, else its
    first timestamp column."""
    try:
        registry = store.registry(ref)
    except NotFoundError:
        registry = None
    if registry is not None:
        for source in registry.data_sources_by_name.values():
            batch = getattr(source, "batch_source", source)
            if getattr(batch, "table", None) == table:
                ts = getattr(batch, "timestamp_field", None)
                if isinstance(ts, str) and ts in schema.names:
                    return ts
    return next((f.name for f in schema if pa.types.is_timestamp(f.type)), None)


def _numeric(name: str, kind: Kind) -> str:
    """The column as DOUBLE: times as epoch seconds."""
    col = _ident(name)
    return f"epoch({col})::DOUBLE" if kind == "time" else f"{col}::DOUBLE"


def _ranges(bound: _Bound, store: FeatureStore) -> tuple[int, dict[str, dict[str, Any]]]:
    """Row count, then per column its non-null count, finite range and distinct count."""
    parts = ["count(*) AS n"]
    fields = [(i, f.name, _kind(f.type)) for i, f in enumerate(bound.schema)]
    for i, name, kind in fields:
        parts.append(f"count({_ident(name)}) AS c{i}")
        if kind in ("number", "time"):
            value = _numeric(name, kind)
            finite = f"FILTER (WHERE isfinite({value}))"
            parts += [f"min({value}) {finite} AS lo{i}", f"max({value}) {finite} AS hi{i}"]
        elif kind == "text":
            parts.append(f"approx_count_distinct({_ident(name)}) AS d{i}")
    row = bound.sql(store, "SELECT " + ", ".join(parts) + " FROM t").to_pylist()[0]
    out = {
        name: {
            "kind": kind,
            "count": row[f"c{i}"],
            "low": row.get(f"lo{i}"),
            "high": row.get(f"hi{i}"),
            "distinct": row.get(f"d{i}"),
        }
        for i, name, kind in fields
    }
    return int(row["n"]), out


def _grid(lo: float, hi: float, integer: bool) -> tuple[float, float, int]:
    """Bin edges over ``[lo, hi]``: start, width and count (whole-number widths for
    integers, so a small range gets one bin per value)."""
    if hi <= lo:
        return lo, 1.0, 1
    if integer:
        width = float(math.ceil((hi - lo + 1) / BINS))
        return lo, width, math.ceil((hi - lo + 1) / width)
    return lo, (hi - lo) / BINS, BINS


def _bins(
    bound: _Bound, store: FeatureStore, edges: dict[str, tuple[float, float]]
) -> dict[str, tuple[Bin, ...]]:
    """Each numeric column's histogram over its ``edges``, on ``_grid``'s bins."""
    types = {f.name: f.type for f in bound.schema}
    grids = {n: _grid(lo, hi, pa.types.is_integer(types[n])) for n, (lo, hi) in edges.items()}
    names = list(edges)
    selects = []
    for i, name in enumerate(names):
        lo, width, n = grids[name]
        value = _numeric(name, _kind(types[name]))
        selects.append(
            f"SELECT {i} AS col, least(greatest(floor(({value} - {lo!r}) / {width!r}), 0), "
            f"{n - 1})::INTEGER AS bin, count(*) AS n FROM t "
            f"WHERE isfinite({value}) GROUP BY ALL"
        )
    counts: dict[str, dict[int, int]] = {n: {} for n in names}
    if selects:
        for r in bound.sql(store, " UNION ALL ".join(selects)).to_pylist():
            counts[names[r["col"]]][r["bin"]] = r["n"]
    out = {}
    for name in names:
        lo, width, n = grids[name]
        out[name] = tuple(
            Bin(lo + b * width, lo + (b + 1) * width, counts[name].get(b, 0)) for b in range(n)
        )
    return out


def _top(
    bound: _Bound, store: FeatureStore, names: list[str]
) -> dict[str, tuple[tuple[str, int], ...]]:
    """Each text column's ``TOP`` most frequent values (ties by value)."""
    selects = [
        f"(SELECT {i} AS col, CAST({_ident(n)} AS VARCHAR) AS v, count(*) AS n FROM t "
        f"WHERE {_ident(n)} IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {TOP})"
        for i, n in enumerate(names)
    ]
    out: dict[str, list[tuple[str, int]]] = {n: [] for n in names}
    if selects:
        rows = bound.sql(store, " UNION ALL ".join(selects)).to_pylist()
        for r in sorted(rows, key=lambda r: (r["col"], -r["n"], r["v"])):
            out[names[r["col"]]].append((r["v"], r["n"]))
    return {n: tuple(v) for n, v in out.items()}


def _freshness(columns: dict[str, dict[str, Any]], column: str | None) -> datetime | None:
    """The latest event time: the time column's largest value (read with the ranges)."""
    high = columns[column]["high"] if column is not None else None
    return None if high is None else datetime.fromtimestamp(high, UTC)


def _profile(
    store: FeatureStore,
    bound: _Bound,
    ranges: tuple[int, dict[str, dict[str, Any]]],
    edges: dict[str, tuple[float, float]],
) -> TableProfile:
    rows, columns = ranges
    bins = _bins(bound, store, edges)
    texts = [n for n, c in columns.items() if c["kind"] == "text"]
    top = _top(bound, store, texts)
    ts = time_column(store, bound.ref, bound.table, bound.schema)
    profiles = tuple(
        ColumnProfile(
            name=f.name,
            type=str(f.type),
            kind=columns[f.name]["kind"],
            rows=rows,
            nulls=rows - int(columns[f.name]["count"]),
            low=columns[f.name]["low"],
            high=columns[f.name]["high"],
            bins=bins.get(f.name, ()),
            top=top.get(f.name, ()),
            distinct=columns[f.name]["distinct"],
        )
        for f in bound.schema
    )
    return TableProfile(
        bound.table, bound.ref, bound.commit_id, rows, ts, _freshness(columns, ts), profiles
    )


def _edges(*ranges: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Shared bin edges: per numeric column, the range over every side that has values."""
    out: dict[str, tuple[float, float]] = {}
    for columns in ranges:
        for name, c in columns.items():
            if c["kind"] not in ("number", "time") or c["low"] is None:
                continue
            lo, hi = out.get(name, (c["low"], c["high"]))
            out[name] = (min(lo, c["low"]), max(hi, c["high"]))
    return out


def profile(store: FeatureStore, ref: str, table: str) -> TableProfile:
    """``table``'s columns at ``ref``: null rates, histograms, top values, freshness."""
    bound = _bind(store, ref, table)
    ranges = _ranges(bound, store)
    return _profile(store, bound, ranges, _edges(ranges[1]))


def psi(left: list[int], right: list[int]) -> float | None:
    """Population stability index of two count vectors over the same buckets (None when
    a side is empty); 0 is identical, above 0.25 is usually read as a large shift."""
    lt, rt = sum(left), sum(right)
    if not lt or not rt:
        return None
    eps = 1e-4
    total = 0.0
    for a, b in zip(left, right, strict=True):
        p, q = max(a / lt, eps), max(b / rt, eps)
        total += (q - p) * math.log(q / p)
    return total


def _drift(left: ColumnProfile, right: ColumnProfile | None) -> float | None:
    if right is None or left.kind != right.kind:
        return None
    if left.bins and right.bins and len(left.bins) == len(right.bins):
        return psi([b.count for b in left.bins], [b.count for b in right.bins])
    if left.kind == "text":
        keys = sorted({v for v, _ in left.top} | {v for v, _ in right.top})
        lc, rc = dict(left.top), dict(right.top)
        lo = [lc.get(k, 0) for k in keys] + [left.rows - left.nulls - sum(lc.values())]
        ro = [rc.get(k, 0) for k in keys] + [right.rows - right.nulls - sum(rc.values())]
        return psi(lo, ro)
    return None


def compare(store: FeatureStore, left: str, right: str, table: str) -> Comparison:
    """``table`` profiled at ``left`` and ``right`` on shared bins, with each column's PSI."""
    lb, rb = _bind(store, left, table), _bind(store, right, table)
    lr, rr = _ranges(lb, store), _ranges(rb, store)
    edges = _edges(lr[1], rr[1])
    lp, rp = _profile(store, lb, lr, edges), _profile(store, rb, rr, edges)
    drift = {c.name: _drift(c, rp.column(c.name)) for c in lp.columns}
    return Comparison(lp, rp, drift)
