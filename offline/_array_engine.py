"""The array engine: the point-in-time join and windowed aggregates on an array module.

The join is written once against ``xp``, an array module with NumPy's API: NumPy on the
CPU (``device="cpu"``), CuPy on an NVIDIA GPU (``device="cuda"``). Every line the GPU
runs is a line the CPU tests run.

How a join runs: Parquet is read with pyarrow; keys (any columns, strings too) are
factorized on the host into one integer code per key tuple, over entity and feature
keys together (``pc.unique`` + ``pc.index_in``); times become UTC microseconds. On the
device: the times of both sides are ranked together, each row packed into one
``int64`` as ``key * R + rank``, feature rows sorted by (packed, created) and each entity
row found with one ``searchsorted``; ties on event time go to the greatest created time
(a null created time is the smallest), ``ttl`` bounds both ends inclusively. Only the
winning row numbers come back to the host, where Arrow gathers the feature values, so
integers stay (nullable) integers and every type is kept. Entity rows are never
reordered: duplicates, extra columns and order are kept.

Windowed aggregates (``t - window < e <= t``) take each entity row's ``[lo, hi)`` range of
sorted feature rows with two ``searchsorted``; counts and integer sums come from prefix
sums, float sums, means and sample standard deviations from an exact two-pass
reduction over the expanded ranges, min and max from a sparse table over ordinal codes
(so strings and timestamps too), ``last`` from the range's last row (ties on event time:
greatest created time, a null created time the greatest, as DuckDB orders it).

Leak-free joins (``exclude_created_after``), ``window_aggregate_at``, ``window_events``,
``latest``, ``sorted_rows``, ``map_rows`` and ``sql`` are delegated to the DuckDB engine
the array engine holds. Entity rows given as a reader are read into memory first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from offline import _fs
from offline._compute import PartitionFn, RowQuery, query_rows
from offline._engine import _RN, _TS, Engine, _check_columns, _with_row_numbers, corrupt_table_error
from offline._errors import OfflineError, QueryError
from offline._specs import AsOfSpec, WindowAgg, WindowSpec
from offline._time import micros, to_utc_us

__all__ = ["ArrayEngine", "Device", "Fallback", "array_module"]

log = logging.getLogger(__name__)

Entities: TypeAlias = pa.Table | pa.RecordBatchReader
Device = Literal["cuda", "cpu"]
Fallback = Literal["cpu", "error"]

_BATCH_ROWS = 128 * 1024
_I64_MIN = np.iinfo(np.int64).min
_I64_MAX = np.iinfo(np.int64).max
_DENSE_LIMIT = 1 << 31
_PACK_LIMIT = 1 << 62


def array_module(device: Device = "cuda", fallback: Fallback = "error") -> tuple[Any, str]:
    """The array module for ``device`` and the device it runs on (``"cuda"`` or ``"cpu"``).

    ``cuda`` needs CuPy and a visible CUDA device; without them it raises
    ``OfflineError`` saying what is missing, or returns NumPy when ``fallback="cpu"``.
    """
    if device == "cpu":
        return np, "cpu"
    if device != "cuda":
        raise OfflineError(f"unknown device {device!r}; use 'cuda' or 'cpu'")
    try:
        import cupy  # type: ignore[import-not-found, unused-ignore]

        count = int(cupy.cuda.runtime.getDeviceCount())
        if count < 1:
            raise RuntimeError("CuPy sees no CUDA device")
    except Exception as e:  # ImportError, or CuPy's CUDA errors on a machine without a GPU
        why = (
            "CuPy is not installed"
            if isinstance(e, ImportError)
            else f"no CUDA device is usable ({e})"
        )
        if fallback == "cpu":
            log.warning("offline_store device cuda: %s; running on the CPU (NumPy)", why)
            return np, "cpu"
        raise OfflineError(
            f"offline_store type gpu with device: cuda cannot start: {why}. On a machine "
            "with an NVIDIA GPU install CuPy (pip install cupy-cuda12x); elsewhere set "
            "device: cpu (the same engine on NumPy), or fallback: cpu to use the CPU "
            "when no GPU is found"
        ) from e
    return cupy, "cuda"


def _host(xp: Any, a: Any) -> np.ndarray:
    """A device array as a NumPy array (itself on the CPU)."""
    return np.asarray(a.get() if xp is not np else a)


def _key_codes(
    left: Sequence[pa.ChunkedArray], right: Sequence[pa.ChunkedArray], nl: int, nr: int
) -> tuple[np.ndarray, np.ndarray]:
    """One integer code per key tuple of the ``left`` and ``right`` rows, numbered together;
    -1 where a key is null (a null key matches nothing). No keys: every row is code 0."""
    codes = np.zeros(nl + nr, dtype=np.int64)
    card = 1
    for col, (lc, rc) in enumerate(zip(left, right, strict=True)):
        if rc.type != lc.type:
            try:
                rc = pc.cast(rc, lc.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise QueryError(
                    f"key {col}: the table's key type {rc.type} cannot be compared with the "
                    f"entity column's {lc.type}; cast one of them ({e})"
                ) from e
        both = pa.chunked_array([*lc.chunks, *rc.chunks], type=lc.type)
        uniq = pc.unique(both).drop_null()
        idx = pc.index_in(both, value_set=uniq, skip_nulls=True)
        c = pc.fill_null(idx, -1).to_numpy().astype(np.int64)
        n = len(uniq)
        codes = np.where((codes < 0) | (c < 0), -1, codes * n + c)
        card *= max(n, 1)
        if card >= _DENSE_LIMIT:  # renumber densely so that the next product fits
            valid = codes >= 0
            uniq_codes, inv = np.unique(codes[valid], return_inverse=True)
            codes[valid] = inv
            card = max(len(uniq_codes), 1)
    return codes[:nl], codes[nl:]


def _micros(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """UTC microseconds of timestamps or dates, and where they are null."""
    ints = pc.cast(to_utc_us(arr), pa.int64())
    null = pc.is_null(ints).to_numpy(zero_copy_only=False)
    return pc.fill_null(ints, 0).to_numpy().astype(np.int64), np.asarray(null, dtype=bool)


def _nullable_take(table: pa.Table, idx: np.ndarray) -> pa.Table:
    """Rows ``idx`` of ``table``; -1 gives a row of nulls."""
    if table.num_rows == 0:
        return pa.table({f.name: pa.nulls(len(idx), f.type) for f in table.schema})
    missing = idx < 0
    indices = pa.array(np.where(missing, 0, idx), pa.int64(), mask=missing)
    return table.take(indices)


class _Sides:
    """Entity and feature rows of one join as device arrays: key codes and times."""

    def __init__(
        self,
        xp: Any,
        ents: pa.Table,
        keys: Mapping[str, str],
        table: pa.Table,
        event_ts: str,
        created_ts: str | None,
        created_null: int,
    ) -> None:
        ek, fk = _key_codes(
            [ents.column(c) for c in keys],
            [table.column(c) for c in keys.values()],
            ents.num_rows,
            table.num_rows,
        )
        et, et_null = _micros(ents.column(_TS))
        ek[et_null] = -1
        fe, fe_null = _micros(table.column(event_ts))
        if created_ts is not None:
            fc, fc_null = _micros(table.column(created_ts))
            fc[fc_null] = created_null
        else:
            fc = np.zeros(table.num_rows, dtype=np.int64)
        # a feature row without a key or an event time is never matched
        self.rows = np.flatnonzero((fk >= 0) & ~fe_null)
        self.card = int(max(fk.max(initial=0), ek.max(initial=0))) + 1
        self.has_created = created_ts is not None
        self.xp = xp
        self.ek = xp.asarray(ek)
        self.et = xp.asarray(et)
        self.fk = xp.asarray(fk[self.rows])
        self.fe = xp.asarray(fe[self.rows])
        self.fc = xp.asarray(fc[self.rows])

    def sort(self, *query_times: Any) -> tuple[Any, Any, list[Any]]:
        """Feature rows sorted by (key, event time, created time): their order, their
        packed (key, time) values in that order and each query time's packed value per
        entity row.

        Packed is ``key * span + (time - earliest)`` when that fits in 63 bits, else
        ``key * n + rank`` with each time's rank among all of them (one more sort)."""
        xp = self.xp
        every = xp.concatenate([self.fe, *query_times])
        if every.size == 0:
            return xp.zeros(0, dtype=xp.int64), self.fe, [self.ek for _ in query_times]
        earliest, latest = int(every.min()), int(every.max())
        span = latest - earliest + 1
        if self.card * span < _PACK_LIMIT:
            times, scale = every - earliest, span
        else:
            at = xp.argsort(every, kind="stable")
            ordered = every[at]
            rank = xp.concatenate(
                [xp.zeros(1, dtype=xp.int64), xp.cumsum(ordered[1:] != ordered[:-1])]
            )
            times = xp.empty_like(rank)
            times[at] = rank
            scale = int(every.size)
        packed = self.fk * scale + times[: self.fe.size]
        order = xp.argsort(packed)
        if self.has_created:
            order = self._break_ties(packed, order)
        queries = []
        start = int(self.fe.size)
        for q in query_times:
            queries.append(self.ek * scale + times[start : start + q.size])
            start += int(q.size)
        return order, packed[order], queries

    def _break_ties(self, packed: Any, order: Any) -> Any:
        """``order`` (by packed) with each run of equal packed values ordered by created
        time: only the tied rows are sorted again, in their own positions."""
        xp = self.xp
        sp = packed[order]
        tie = sp[1:] == sp[:-1]
        if not bool(tie.any()):
            return order
        tied = xp.zeros(sp.size, dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        at = xp.nonzero(tied)[0]
        rows = order[at]
        by = xp.argsort(self.fc[rows], kind="stable")
        by = by[xp.argsort(packed[rows][by], kind="stable")]
        order[at] = rows[by]
        return order


def _as_of_rows(sides: _Sides, ttl_us: int | None) -> np.ndarray:
    """Per entity row, the feature table's row that wins (-1: none)."""
    xp = sides.xp
    if sides.rows.size == 0:
        return np.full(int(sides.ek.size), -1, dtype=np.int64)
    order, sp, (q,) = sides.sort(sides.et)
    pos = xp.searchsorted(sp, q, side="right") - 1
    at = xp.maximum(pos, 0)
    ok = (pos >= 0) & (sides.ek >= 0) & (sides.fk[order[at]] == sides.ek)
    if ttl_us is not None:
        ok &= sides.fe[order[at]] >= sides.et - ttl_us
    rows = _host(xp, xp.where(ok, order[at], -1))
    return np.where(rows >= 0, sides.rows[np.maximum(rows, 0)], -1)


def _range_reduce(xp: Any, vals: Any, lo: Any, hi: Any, op: Any, fill: int) -> Any:
    """``op`` (minimum or maximum) of ``vals[lo:hi]`` per range, with a sparse table;
    ``fill`` for an empty range."""
    n = hi - lo
    out = xp.full(n.shape, fill, dtype=vals.dtype)
    longest = int(n.max()) if n.size else 0
    level, width = vals, 1
    while width <= longest:
        sel = xp.nonzero((n >= width) & (n < 2 * width))[0]
        if sel.size:
            out[sel] = op(level[lo[sel]], level[hi[sel] - width])
        if 2 * width > longest:
            break
        level = op(level[:-width], level[width:])
        width *= 2
    return out


def _ordinals(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Each value's rank among the column's sorted distinct values, where it is null, and
    those values (Arrow's order: strings byte by byte, NaN last)."""
    uniq = pc.unique(col).drop_null()
    uniq = uniq.take(pc.sort_indices(uniq))
    idx = pc.index_in(col, value_set=uniq, skip_nulls=True)
    null = np.asarray(pc.is_null(idx).to_numpy(zero_copy_only=False), dtype=bool)
    return pc.fill_null(idx, 0).to_numpy().astype(np.int64), null, uniq


def _numbers(col: pa.ChunkedArray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column's values (nulls as 0) and where they are null."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise QueryError(f"{what} needs a numeric column, found {t}; aggregate a number")
    null = np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)
    kind = np.int64 if pa.types.is_integer(t) else np.float64
    return pc.fill_null(col, 0).to_numpy().astype(kind), null


class _Window:
    """The sorted feature rows and each entity row's range in one window."""

    def __init__(self, xp: Any, sides: _Sides, order: Any, lo: Any, hi: Any) -> None:
        self.xp, self.sides, self.order, self.lo, self.hi = xp, sides, order, lo, hi
        self.n = hi - lo
        self._expanded: tuple[Any, Any] | None = None

    def sorted_values(self, host: np.ndarray) -> Any:
        """``host`` (one value per feature table row) in sorted order, on the device."""
        return self.xp.asarray(host[self.sides.rows])[self.order]

    def prefix(self, vals: Any) -> Any:
        """Sum of ``vals`` over each range, by prefix sums (exact for integers)."""
        xp = self.xp
        p = xp.concatenate([xp.zeros(1, dtype=vals.dtype), xp.cumsum(vals)])
        return p[self.hi] - p[self.lo]

    def expanded(self) -> tuple[Any, Any]:
        """Every (entity row, sorted feature position) pair of the ranges."""
        if self._expanded is None:
            xp = self.xp
            starts = xp.cumsum(self.n) - self.n
            total = int(self.n.sum()) if self.n.size else 0
            k = xp.arange(total, dtype=xp.int64)
            ent = xp.searchsorted(starts + self.n, k, side="right")
            self._expanded = ent, self.lo[ent] + (k - starts[ent])
        return self._expanded

    def fsum(self, vals: Any) -> Any:
        """Sum of float ``vals`` over each range, added in order (no prefix cancellation)."""
        ent, pos = self.expanded()
        return self.xp.bincount(ent, weights=vals[pos], minlength=int(self.n.size))


def _aggregate(w: _Window, agg: WindowAgg, col: pa.ChunkedArray, table: pa.Table) -> pa.Array:
    """One aggregate per entity row as an Arrow array of DuckDB's type for it."""
    xp = w.xp
    f = agg.function
    if f == "last":
        if w.order.size == 0:
            rows = np.full(int(w.n.size), -1, dtype=np.int64)
        else:
            idx = _host(xp, xp.where(w.n > 0, w.order[xp.maximum(w.hi - 1, 0)], -1))
            rows = np.where(idx >= 0, w.sides.rows[np.maximum(idx, 0)], -1)
        return _nullable_take(pa.table({"v": col}), rows).column("v").combine_chunks()
    if f in ("min", "max"):
        codes, null, uniq = _ordinals(col)
        fill = _I64_MAX if f == "min" else -1
        vals = w.sorted_values(np.where(null, fill, codes))
        op = xp.minimum if f == "min" else xp.maximum
        best = _host(xp, _range_reduce(xp, vals, w.lo, w.hi, op, fill))
        empty = (best == fill) | (best < 0) | (best >= len(uniq))
        return uniq.take(pa.array(np.where(empty, 0, best), pa.int64(), mask=empty))
    if f == "count":
        null = np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)
        count = w.prefix(w.sorted_values((~null).astype(np.int64)))
        return pa.array(_host(xp, count), pa.int64())
    values, null = _numbers(col, f)
    valid = w.sorted_values((~null).astype(np.int64))
    count = w.prefix(valid)
    vals = w.sorted_values(values)
    integer = values.dtype == np.int64
    if f in ("sum", "mean"):
        total = w.prefix(vals) if integer else w.fsum(vals)
        if f == "sum":
            out = _host(xp, total)
            return pa.array(
                out, pa.int64() if integer else pa.float64(), mask=_host(xp, count == 0)
            )
        mean = total.astype(xp.float64) / xp.maximum(count, 1)
        return pa.array(_host(xp, mean), pa.float64(), mask=_host(xp, count == 0))
    # stddev_samp: two passes over the ranges, the mean first
    ent, pos = w.expanded()
    fvals = vals.astype(xp.float64)
    total = w.prefix(vals).astype(xp.float64) if integer else w.fsum(fvals)
    mean = total / xp.maximum(count, 1)
    dev = (fvals[pos] - mean[ent]) * valid[pos]
    ss = xp.bincount(ent, weights=dev * dev, minlength=int(w.n.size))
    std = xp.sqrt(ss / xp.maximum(count - 1, 1))
    return pa.array(_host(xp, std), pa.float64(), mask=_host(xp, count < 2))


class ArrayEngine:
    """Point-in-time joins and windowed aggregates on NumPy or CuPy (see the module).

    ``device``: ``cuda`` (CuPy) or ``cpu`` (NumPy, the same code); ``fallback``: what
    ``cuda`` does without a GPU (``error``: raise, ``cpu``: use NumPy). ``threads``,
    ``memory_limit``, ``temp_directory`` and ``filesystem`` go to the DuckDB engine that
    serves the delegated methods; ``filesystem`` also reads files given as URLs.
    """

    def __init__(
        self,
        device: Device = "cuda",
        fallback: Fallback = "error",
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        filesystem: fsspec.AbstractFileSystem | None = None,
    ) -> None:
        if fallback not in ("cpu", "error"):
            raise OfflineError(f"unknown fallback {fallback!r}; use 'cpu' or 'error'")
        self.xp, self.device = array_module(device, fallback)
        self._fs = filesystem
        self._duck = Engine(threads, memory_limit, temp_directory, filesystem)

    def close(self) -> None:
        """Close the DuckDB engine behind the delegated methods."""
        self._duck.close()

    def __enter__(self) -> ArrayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, files: Sequence[str], columns: Sequence[str]) -> pa.Table:
        cols = list(dict.fromkeys(columns))
        try:
            return _fs.read_table(files, self._fs, columns=cols)
        except (OSError, ValueError, pa.ArrowException) as e:
            corrupt = corrupt_table_error(files, e, self._fs)
            if corrupt is not None:
                raise corrupt from e
            raise QueryError(f"cannot read the table's columns {cols}: {e}") from e

    @staticmethod
    def _entities(entities: Entities, entity_ts: str) -> tuple[pa.Table, list[str]]:
        ents = _with_row_numbers(entities, entity_ts)
        table = ents.read_all() if isinstance(ents, pa.RecordBatchReader) else ents
        names = [n for n in table.schema.names if n not in (_RN, _TS)]
        return table, names

    @staticmethod
    def _stream(table: pa.Table) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(_BATCH_ROWS))

    # -- point-in-time join ------------------------------------------------------------

    def as_of_join(
        self, entities: Entities, entity_ts: str, specs: Sequence[AsOfSpec]
    ) -> pa.RecordBatchReader:
        """Each spec's latest row at or before each entity row's time, on the device.

        Every entity row is kept, duplicates too, in its order, with its extra columns;
        features are null where no row matches. A leak-free spec
        (``exclude_created_after``) is joined by the DuckDB engine.
        """
        ents, names = self._entities(entities, entity_ts)
        outputs: set[str] = set(names)
        for spec in specs:
            _check_columns(ents.schema, list(spec.keys), "entity rows")
            for out in spec.columns:
                if out in outputs:
                    raise QueryError(f"output column {out!r} appears twice; rename one")
                outputs.add(out)
        out = ents.select(names)
        for spec in specs:
            for name, column in self._join_one(ents, spec).items():
                out = out.append_column(name, column)
        return self._stream(out)

    def _join_one(self, ents: pa.Table, spec: AsOfSpec) -> dict[str, pa.ChunkedArray | pa.Array]:
        n = ents.num_rows
        if not spec.files:
            return {out: pa.nulls(n) for out in spec.columns}
        if spec.exclude_created_after:  # leak-free: DuckDB's join on the keys and times
            plain = pa.table({**{c: ents.column(c) for c in spec.keys}, "__fs_t": ents[_TS]})
            joined = self._duck.as_of_join(plain, "__fs_t", [spec], method="duckdb").read_all()
            return {out: joined.column(out) for out in spec.columns}
        needed = [*spec.keys.values(), spec.event_ts, *spec.columns.values()]
        if spec.created_ts:
            needed.append(spec.created_ts)
        table = self._read(spec.files, needed)
        _check_columns(table.schema, needed, "table")
        sides = _Sides(self.xp, ents, spec.keys, table, spec.event_ts, spec.created_ts, _I64_MIN)
        ttl = micros(spec.ttl) if spec.ttl is not None else None
        rows = _as_of_rows(sides, ttl)
        values = pa.table({out: table.column(tc) for out, tc in spec.columns.items()})
        found = _nullable_take(values, rows)
        return {out: found.column(out) for out in spec.columns}

    # -- windowed aggregates ------------------------------------------------------------

    def window_aggregate(
        self, entities: Entities, entity_ts: str, spec: WindowSpec
    ) -> pa.RecordBatchReader:
        """Aggregate each entity's rows with ``t - window < e <= t``, per entity row.

        Counts over an empty window are 0; the other aggregates are null.
        """
        ents, names = self._entities(entities, entity_ts)
        _check_columns(ents.schema, list(spec.keys), "entity rows")
        out = ents.select(names)
        n = ents.num_rows
        if not spec.files:
            for a in spec.aggregations:
                col = pa.array(np.zeros(n, np.int64)) if a.function == "count" else pa.nulls(n)
                out = out.append_column(a.output, col)
            return self._stream(out)
        needed = [*spec.keys.values(), spec.event_ts, *(a.column for a in spec.aggregations)]
        if spec.created_ts:
            needed.append(spec.created_ts)
        table = self._read(spec.files, needed)
        _check_columns(table.schema, needed, "table")
        xp = self.xp
        sides = _Sides(xp, ents, spec.keys, table, spec.event_ts, spec.created_ts, _I64_MAX)
        windows = sorted({micros(a.window) for a in spec.aggregations})
        order, sp, queries = sides.sort(sides.et, *(sides.et - w for w in windows))
        missing = sides.ek < 0
        hi = xp.where(missing, 0, xp.searchsorted(sp, queries[0], side="right"))
        results: dict[str, pa.Array] = {}
        for w, q in zip(windows, queries[1:], strict=True):
            lo = xp.where(missing, 0, xp.searchsorted(sp, q, side="right"))
            win = _Window(xp, sides, order, lo, hi)
            for a in spec.aggregations:
                if micros(a.window) == w:
                    results[a.output] = _aggregate(win, a, table.column(a.column), table)
        for a in spec.aggregations:
            out = out.append_column(a.output, results[a.output])
        return self._stream(out)

    # -- delegated to DuckDB -------------------------------------------------------------

    def window_aggregate_at(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        aggregations: Sequence[WindowAgg],
        at: datetime,
        created_ts: str | None = None,
    ) -> pa.RecordBatchReader:
        """Each key's aggregates as of one time ``at`` (DuckDB)."""
        return self._duck.window_aggregate_at(files, keys, event_ts, aggregations, at, created_ts)

    def window_events(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        columns: Sequence[str],
        start: datetime,
        end: datetime,
        created_ts: str | None = None,
    ) -> pa.RecordBatchReader:
        """The raw rows with ``start < e <= end`` (DuckDB)."""
        return self._duck.window_events(files, keys, event_ts, columns, start, end, created_ts)

    def latest(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        created_ts: str | None,
        columns: Sequence[str] | Mapping[str, str],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.RecordBatchReader:
        """The latest row per key with ``start <= e <= end`` (DuckDB)."""
        return self._duck.latest(files, keys, event_ts, created_ts, columns, start, end)

    def sorted_rows(self, files: Sequence[str], order: Sequence[str]) -> pa.RecordBatchReader:
        """Every row of ``files`` ordered by ``order`` (DuckDB)."""
        return self._duck.sorted_rows(files, order)

    def map_rows(
        self, query: RowQuery, fn: PartitionFn, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """Run ``fn`` over the query's rows in this process (one partition: all of them)."""
        for batch in fn(iter(query_rows(self, query))):
            yield batch.cast(schema) if batch.schema != schema else batch

    def sql(
        self,
        query: str,
        tables: Mapping[str, Sequence[str]],
        schemas: Mapping[str, pa.Schema] | None = None,
    ) -> pa.Table:
        """One read-only SELECT in DuckDB's sandbox (see ``Engine.sql``)."""
        return self._duck.sql(query, tables, schemas)
