"""Row-level diff and three-way merge of one table by natural key.

A key's value is the multiset of full rows holding that key. Between two commits only
the objects that changed can differ, so the signed row delta of a table (rows gained
minus rows lost, per key) is computed from those objects alone: objects that moved rows
around without changing any (a compaction) give no delta.

Rows are compared by hashes: equal rows always compare equal. A first pass sums, per
bucket of a 64-bit DuckDB ``hash()`` of the full row, a second hash of each row on
each side; only buckets whose sums or counts differ are read again and grouped by key,
comparing rows by a 64-bit hash of their non-key columns. Different rows are taken
for equal only on a hash collision (about 2^-62 per dirty bucket, 2^-64 per pair of
rows of one key), which is accepted.

Cost: a diff or a merge reads only the objects changed since the base on either side
(and a merge rewrites only those of the destination that hold keys it changes), never
the unchanged objects of the table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NoReturn

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

import repos
from offline._errors import OfflineError, RowConflictError, SchemaMismatchError, TableNotFoundError
from offline._fs import is_url
from offline._sql import ident, literal_list
from offline._tables import (
    _ROW_GROUP,
    RefLike,
    TableStore,
    _cast_batches,
    _connect,
    _Table,
    _write_parts,
)

__all__ = ["RowChanges", "merge_table", "row_changes"]

SAMPLE = 20
"""Conflicting keys a ``RowConflictError`` carries as a sample."""

Kind = Literal["added", "removed", "changed"]
_KINDS: tuple[Kind, ...] = ("added", "removed", "changed")
_H, _N, _F = "__fs_h", "__fs_n", "__fs_file"
_BUCKETS = 65536
"""Buckets of the first pass of a delta: a small aggregate, and few rows per dirty bucket."""


@dataclass(frozen=True)
class RowChanges:
    """What changed in one table from ``left`` to ``right``, by key.

    ``added``: keys that gained rows and lost none (new keys); ``removed``: keys that
    lost rows and gained none; ``changed``: keys that lost some rows and gained others.
    """

    table: str
    added: int
    removed: int
    changed: int
    _rows: pa.Table = field(repr=False, compare=False)

    def rows(self, kind: Kind | None = None) -> pa.Table:
        """The rows gained and lost, with ``__change`` (added / removed / changed) and
        ``__side`` (``left``: a row lost, ``right``: a row gained); ``kind`` keeps one."""
        if kind is None:
            return self._rows
        if kind not in _KINDS:
            raise OfflineError(f"unknown change kind {kind!r}: use one of {_KINDS} or None")
        return self._rows.filter(pc.equal(self._rows["__change"], kind))

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _meta_or_none(tables: TableStore, ref: repos.Reference, name: str) -> _Table | None:
    try:
        return tables._meta(ref, name)
    except TableNotFoundError:
        return None


def _check_keys(name: str, meta: _Table, keys: Sequence[str]) -> tuple[str, ...]:
    if isinstance(keys, str) or not keys:
        raise OfflineError(
            f"give the natural key of table {name!r} as a sequence of column names, "
            "e.g. ['driver_id', 'event_timestamp']"
        )
    for c in keys:
        if c not in meta.schema.names:
            raise SchemaMismatchError(
                c, "a key column of the table", "no such column", f"table {name!r}"
            )
    return tuple(keys)


def _on(keys: Sequence[str], a: str, b: str) -> str:
    return " AND ".join(f"{a}.{ident(c)} IS NOT DISTINCT FROM {b}.{ident(c)}" for c in keys)


def _scan(files: Sequence[str], sign: int, keys: Sequence[str], columns: Sequence[str]) -> str:
    """Rows of ``files`` with their row hash and ``sign`` (SQL)."""
    rest = [c for c in columns if c not in keys]
    h = f"hash({', '.join(ident(c) for c in rest)})" if rest else "0::UBIGINT"
    return (
        f"SELECT *, {h} AS {_H}, {sign}::BIGINT AS {_N} FROM read_parquet("
        f"{literal_list(list(files))}, filename='{_F}', union_by_name=true)"
    )


def _union(parts: Sequence[str]) -> str:
    return " UNION ALL BY NAME ".join(f"({p})" for p in parts)


def _side(files: Sequence[str], columns: Sequence[str], present: Sequence[str] | None) -> str:
    """The rows of ``files`` as ``columns`` (SQL); those the files lack read as NULL."""
    cols = ", ".join(
        ident(c) if present is None or c in present else f"NULL AS {ident(c)}" for c in columns
    )
    return f"SELECT {cols} FROM read_parquet({literal_list(list(files))})"


def _delta(
    con: duckdb.DuckDBPyConnection,
    name: str,
    old: Sequence[str],
    new: Sequence[str],
    keys: Sequence[str],
    schema: pa.Schema,
    present: tuple[Sequence[str] | None, Sequence[str] | None] = (None, None),
) -> None:
    """Temp table ``name``: per key and row hash, the signed count ``new`` - ``old``; and
    ``name_rows``: the rows that may differ, with their row hash and sign.

    Two passes keep the work linear in the rows read: the first sums a hash of every
    row per bucket of its full-row hash (a small aggregate); buckets whose counts and
    sums agree on both sides hold the same rows. Only rows of the other buckets are
    grouped by key in the second pass.
    """
    columns = schema.names
    sides = [
        (f, sign, cols) for f, sign, cols in ((new, 1, present[1]), (old, -1, present[0])) if f
    ]
    if not sides:
        con.register(f"{name}_none", schema.empty_table())
        con.execute(
            f"CREATE TEMP TABLE {name}_rows AS SELECT {', '.join(ident(c) for c in columns)}, "
            f"0::UBIGINT AS {_H}, 0::BIGINT AS {_N} FROM {name}_none"
        )
    else:
        m = _BUCKETS
        every = f"hash({', '.join(ident(c) for c in columns)})"
        rest = [c for c in columns if c not in keys]
        h = f"hash({', '.join(ident(c) for c in rest)})" if rest else "0::UBIGINT"
        buckets = " UNION ALL ".join(
            f"SELECT {every} % {m} AS b, (hash({every}) >> 2)::BIGINT * {sign} AS v, "
            f"{sign}::BIGINT AS s FROM ({_side(files, columns, cols)})"
            for files, sign, cols in sides
        )
        con.execute(
            f"CREATE TEMP TABLE {name}_dirty AS SELECT b FROM ({buckets}) GROUP BY b "
            "HAVING sum(s) <> 0 OR sum(v) <> 0"
        )
        rows = " UNION ALL BY NAME ".join(
            f"(SELECT *, {h} AS {_H}, {sign}::BIGINT AS {_N} FROM "
            f"({_side(files, columns, cols)}) WHERE {every} % {m} IN "
            f"(SELECT b FROM {name}_dirty))"
            for files, sign, cols in sides
        )
        con.execute(f"CREATE TEMP TABLE {name}_rows AS {rows}")
    k = ", ".join(ident(c) for c in keys)
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT {k}, {_H}, sum({_N})::BIGINT AS {_N} "
        f"FROM {name}_rows GROUP BY ALL HAVING sum({_N}) <> 0"
    )


def _changed_objects(
    before: repos.Reference, after: repos.Reference, prefix: str
) -> tuple[list[str], list[str]]:
    """Local files of the Parquet objects that differ: their versions before, and after."""
    old: list[str] = []
    new: list[str] = []
    for c in before.diff(after, prefix):
        if not c.path.endswith(".parquet"):
            continue
        if c.type != "added":
            old.append(before.object(c.path).stat().physical_address)
        if c.type != "removed":
            new.append(after.object(c.path).stat().physical_address)
    return old, new


def _arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    return rel.to_arrow_table()


def row_changes(
    tables: TableStore, table: str, left: RefLike, right: RefLike, keys: Sequence[str]
) -> RowChanges:
    """The rows of ``table`` added, removed and changed from ``left`` to ``right``, by
    the natural key ``keys``; reads only the objects that differ between the two."""
    lref, rref = tables._ref(left), tables._ref(right)
    lmeta = _meta_or_none(tables, lref, table)
    rmeta = _meta_or_none(tables, rref, table)
    meta = rmeta or lmeta
    if meta is None:
        raise TableNotFoundError(
            f"no table {table!r} at ref {lref.id!r} nor at {rref.id!r}: name a table of one of them"
        )
    k = _check_keys(table, meta, keys)
    columns = list(dict.fromkeys([*meta.schema.names, *(lmeta or meta).schema.names]))
    old, new = _changed_objects(lref, rref, TableStore._prefix(table))
    out_schema = pa.schema(
        [
            *(f for f in (rmeta or meta).schema),
            *(f for f in (lmeta or meta).schema if f.name not in meta.schema.names),
            pa.field("__change", pa.string()),
            pa.field("__side", pa.string()),
        ]
    )
    con = _connect(tables.repo.filesystem)
    try:
        present = (
            None if lmeta is None else lmeta.schema.names,
            None if rmeta is None else rmeta.schema.names,
        )
        _delta(con, "d", old, new, k, pa.schema(list(out_schema)[:-2]), present)
        kl = ", ".join(ident(c) for c in k)
        con.execute(
            f"CREATE TEMP TABLE kinds AS SELECT {kl}, CASE WHEN bool_or({_N} > 0) AND "
            f"bool_or({_N} < 0) THEN 'changed' WHEN bool_or({_N} > 0) THEN 'added' "
            f"ELSE 'removed' END AS __change FROM d GROUP BY ALL"
        )
        counts = dict(con.sql("SELECT __change, count(*) FROM kinds GROUP BY 1").fetchall())
        if old or new:
            shown = ", ".join(f"t.{ident(c)}" for c in columns)
            rel = con.sql(
                f"SELECT {shown}, kinds.__change, CASE WHEN d.{_N} > 0 THEN 'right' "
                f"ELSE 'left' END AS __side, unnest(range(abs(d.{_N}))) AS __fs_i "
                f"FROM (SELECT * FROM d_rows "
                f"QUALIFY row_number() OVER (PARTITION BY {kl}, {_H}, {_N} > 0) = 1) t "
                f"JOIN d ON {_on(k, 't', 'd')} AND t.{_H} = d.{_H} "
                f"AND (t.{_N} > 0) = (d.{_N} > 0) "
                f"JOIN kinds ON {_on(k, 't', 'kinds')} "
                f"ORDER BY {', '.join(f't.{ident(c)}' for c in k)}, __side"
            )
            got = _arrow(rel).drop_columns(["__fs_i"])
            rows = pa.Table.from_arrays(
                [got[f.name].cast(f.type) for f in out_schema], schema=out_schema
            )
        else:
            rows = out_schema.empty_table()
    finally:
        con.close()
    return RowChanges(
        table,
        int(counts.get("added", 0)),
        int(counts.get("removed", 0)),
        int(counts.get("changed", 0)),
        rows,
    )


# -- three-way merge ---------------------------------------------------------------------


@dataclass
class _Sides:
    """The group's objects of one merge: base versions and new versions per side."""

    base: dict[str, repos.ObjectInfo]
    theirs: dict[str, repos.ObjectInfo | None]
    ours: dict[str, repos.ObjectInfo | None]

    def old(self, side: Mapping[str, object]) -> list[str]:
        return [self.base[p].physical_address for p in side if p in self.base]

    @staticmethod
    def new(side: Mapping[str, repos.ObjectInfo | None]) -> list[str]:
        return [o.physical_address for o in side.values() if o is not None]


@dataclass(frozen=True)
class _Address:
    """An object of the store named by its URL (``s3://...``), which ``Path`` would mangle:
    a merge resolver's answer that the repository reuses as it is."""

    url: str

    def __fspath__(self) -> str:
        return self.url


def _stored(o: repos.ObjectInfo) -> os.PathLike[str]:
    """``o`` as a merge answer: its address, reused by the repository (never copied)."""
    return _Address(o.physical_address) if is_url(o.physical_address) else Path(o.physical_address)


def _conflict(message: str, keys: pa.Table | None = None, count: int = 0) -> NoReturn:
    raise RowConflictError(message, keys if keys is not None else pa.table({}), count)


def _sum(o: repos.ObjectInfo | None) -> str | None:
    return None if o is None else o.checksum


def _whole(
    tables: TableStore, merge: repos.GroupMerge, prefix: str
) -> dict[str, bytes | os.PathLike[str] | None]:
    """The source's version of the whole group, on top of the destination's tree."""
    repo = tables.repo
    theirs = {o.path: o for o in repo.ref(merge.source).objects(prefix)}
    out: dict[str, bytes | os.PathLike[str] | None] = {
        o.path: None for o in repo.ref(merge.dest).objects(prefix) if o.path not in theirs
    }
    out.update({p: _stored(o) for p, o in theirs.items()})
    return out


def merge_table(
    tables: TableStore,
    merge: repos.GroupMerge,
    table: str,
    keys: Sequence[str],
    scratch: Path,
) -> dict[str, bytes | os.PathLike[str] | None]:
    """Merge ``table`` three-way by the natural key ``keys`` (a ``repos`` merge resolver's
    answer): changes on top of the destination's tree, new parts written in ``scratch``.

    Keys changed on the source only take the source's rows; keys changed on both sides
    to the same rows stay; keys changed differently on both sides raise
    ``RowConflictError`` (a sample of the keys and their count) unless
    ``merge.strategy`` is ``source-wins`` or ``dest-wins``. Reads only the objects
    changed since the base on either side.
    """
    repo = tables.repo
    prefix = TableStore._prefix(table)
    schema_path = prefix + "_schema"
    base = repo.ref(merge.base) if merge.base is not None else None
    smeta = _meta_or_none(tables, repo.ref(merge.source), table)
    dmeta = _meta_or_none(tables, repo.ref(merge.dest), table)
    strategy = merge.strategy
    if strategy not in (None, "source-wins", "dest-wins"):
        raise OfflineError(
            f"unknown merge strategy {strategy!r}: use None, 'source-wins' or 'dest-wins'"
        )
    if smeta is None or dmeta is None:
        if smeta is None and dmeta is None:
            return {}
        if strategy is None:
            side = "source" if smeta is None else "destination"
            _conflict(
                f"table {table!r} was removed on the {side} and changed on the other side: "
                "remove or restore it on one side, or merge with strategy='source-wins' or "
                "'dest-wins'",
            )
        return _whole(tables, merge, prefix) if strategy == "source-wins" else {}
    if not smeta.schema.equals(dmeta.schema) or smeta.keys != dmeta.keys:
        if strategy is None:
            _conflict(
                f"the schema of table {table!r} differs between the source and the "
                "destination while both changed its rows: make the schema change on one "
                "side only after merging the rows, or merge with strategy='source-wins' or "
                "'dest-wins'",
            )
        return _whole(tables, merge, prefix) if strategy == "source-wins" else {}
    k = _check_keys(table, dmeta, keys)
    out: dict[str, bytes | os.PathLike[str] | None] = {}
    t_schema, o_schema = merge.theirs.get(schema_path), merge.ours.get(schema_path)
    if schema_path in merge.theirs:
        if schema_path not in merge.ours:
            out[schema_path] = None if t_schema is None else _stored(t_schema)
        elif _sum(t_schema) != _sum(o_schema):
            if strategy is None:
                _conflict(
                    f"the schema object of table {table!r} ({schema_path}) changed "
                    "differently on both sides: change it on one side, or merge with "
                    "strategy='source-wins' or 'dest-wins'",
                )
            if strategy == "source-wins":
                out[schema_path] = None if t_schema is None else _stored(t_schema)
    for p in sorted(merge.theirs):  # objects that are neither the schema nor a part
        if p == schema_path or p.endswith(".parquet"):
            continue
        t = merge.theirs[p]
        if p in merge.ours:
            if _sum(t) == _sum(merge.ours[p]) or strategy == "dest-wins":
                continue
            if strategy is None:
                _conflict(f"{p} changed differently on both sides: change it on one side")
        out[p] = None if t is None else _stored(t)
    parts = _parts(merge, base)
    out.update(_merge_rows(tables, merge, table, dmeta, k, parts, scratch))
    return out


def _parts(merge: repos.GroupMerge, base: repos.Reference | None) -> _Sides:
    def only(side: Mapping[str, repos.ObjectInfo | None]) -> dict[str, repos.ObjectInfo | None]:
        return {p: o for p, o in side.items() if p.endswith(".parquet")}

    theirs, ours = only(merge.theirs), only(merge.ours)
    found: dict[str, repos.ObjectInfo] = {}
    if base is not None:
        for p in sorted({*theirs, *ours}):
            obj = base.object(p)
            if obj.exists():
                found[p] = obj.stat()
    return _Sides(found, theirs, ours)


def _merge_rows(
    tables: TableStore,
    merge: repos.GroupMerge,
    table: str,
    meta: _Table,
    k: tuple[str, ...],
    sides: _Sides,
    scratch: Path,
) -> dict[str, bytes | os.PathLike[str] | None]:
    kl = ", ".join(ident(c) for c in k)
    con = _connect(tables.repo.filesystem)
    try:
        _delta(con, "ds", sides.old(sides.theirs), sides.new(sides.theirs), k, meta.schema)
        _delta(con, "dd", sides.old(sides.ours), sides.new(sides.ours), k, meta.schema)
        keyed = ", ".join(f"coalesce(s.{ident(c)}, d.{ident(c)}) AS {ident(c)}" for c in k)
        con.execute(
            f"CREATE TEMP TABLE j AS SELECT {keyed}, coalesce(s.{_H}, d.{_H}) AS {_H}, "
            f"coalesce(s.{_N}, 0) AS ns, coalesce(d.{_N}, 0) AS nd FROM ds s "
            f"FULL OUTER JOIN dd d ON {_on(k, 's', 'd')} AND s.{_H} = d.{_H}"
        )
        con.execute(
            f"CREATE TEMP TABLE per_key AS SELECT {kl}, bool_or(ns <> 0) AS src, "
            f"bool_or(nd <> 0) AS dst, bool_or(ns <> nd) AS differ FROM j GROUP BY ALL"
        )
        both, clashes = con.execute(
            "SELECT count(*) FILTER (src AND dst), count(*) FILTER (src AND dst AND differ) "
            "FROM per_key"
        ).fetchall()[0]
        if clashes and merge.strategy is None:
            sample = _arrow(
                con.sql(
                    f"SELECT {kl} FROM per_key WHERE src AND dst AND differ ORDER BY {kl} "
                    f"LIMIT {SAMPLE}"
                )
            )
            sample = sample.cast(pa.schema([meta.schema.field(c) for c in k]))
            _conflict(
                f"table {table!r}: {clashes} key(s) changed differently on both sides "
                f"(first: {_shown(sample)}): change them on one side, or merge with "
                "strategy='source-wins' or 'dest-wins'",
                sample,
                int(clashes),
            )
        wins = " OR (p.src AND p.dst AND p.differ)" if merge.strategy == "source-wins" else ""
        net = "CASE WHEN p.dst THEN ns - nd ELSE ns END"
        con.execute(
            f"CREATE TEMP TABLE ap AS SELECT j.* EXCLUDE (ns, nd), {net} AS {_N} FROM j "
            f"JOIN per_key p ON {_on(k, 'j', 'p')} "
            f"WHERE ((p.src AND NOT p.dst){wins}) AND {net} <> 0"
        )
        ((changes,),) = con.execute("SELECT count(*) FROM ap").fetchall()
        if not changes:
            return {}
        if not both and not (set(sides.theirs) & set(sides.ours)):
            # every object the source changed is untouched on the destination, and no key
            # changed on both sides: the source's objects apply as they are
            return {p: None if o is None else _stored(o) for p, o in sides.theirs.items()}
        return _rewrite(con, tables, merge, table, meta, k, sides, scratch)
    finally:
        con.close()


def _shown(sample: pa.Table) -> str:
    rows = sample.slice(0, 3).to_pylist()
    return "; ".join(", ".join(f"{c}={v!s}" for c, v in r.items()) for r in rows)


def _rewrite(
    con: duckdb.DuckDBPyConnection,
    tables: TableStore,
    merge: repos.GroupMerge,
    table: str,
    meta: _Table,
    k: tuple[str, ...],
    sides: _Sides,
    scratch: Path,
) -> dict[str, bytes | os.PathLike[str] | None]:
    """Apply the net row delta ``ap`` to the destination: rewrite its objects holding those
    keys without them and write the keys' merged rows as new parts."""
    columns = meta.schema.names
    kl = ", ".join(ident(c) for c in k)
    prefix = TableStore._prefix(table)
    dest = tables.repo.ref(merge.dest)
    cands: dict[str, str] = {
        sides.base[p].physical_address: p
        for p in sides.theirs
        if p in sides.base and p not in sides.ours
    }
    cands.update({o.physical_address: p for p, o in sides.ours.items() if o is not None})
    con.execute(f"CREATE TEMP TABLE ak AS SELECT DISTINCT {kl} FROM ap")
    hit: list[str] = []
    if cands:
        hit = [
            str(f)
            for (f,) in con.sql(
                f"SELECT DISTINCT f.{_F} FROM ({_scan(list(cands), 1, k, columns)}) f "
                f"SEMI JOIN ak ON {_on(k, 'f', 'ak')} ORDER BY 1"
            ).fetchall()
        ]
    items: dict[str, os.PathLike[str]] = {}
    for phys in hit:
        rel = con.sql(
            f"SELECT {', '.join(f'f.{ident(c)}' for c in columns)} FROM read_parquet("
            f"{literal_list([phys])}) f ANTI JOIN ak ON {_on(k, 'f', 'ak')}"
        )
        items.update(
            _write_parts(
                scratch,
                prefix,
                _cast_batches(rel.to_arrow_reader(_ROW_GROUP), meta.schema),
                meta.schema,
                None,
                items,
            )
        )
    pool = [_scan(hit, 1, k, columns)] if hit else []
    pool += [f"SELECT * REPLACE (0::BIGINT AS {_N}) FROM ds_rows WHERE {_N} > 0"]
    pool += [f"SELECT * REPLACE (0::BIGINT AS {_N}) FROM dd_rows WHERE {_N} < 0"]
    order = ", ".join(ident(c) for c in (meta.sort_by or k))
    shown = ", ".join(f"r.{ident(c)}" for c in columns)
    rel = con.sql(
        f"WITH rows AS (SELECT r.* FROM ({_union(pool)}) r SEMI JOIN ak ON {_on(k, 'r', 'ak')}), "
        f"have AS (SELECT {kl}, {_H}, sum({_N})::BIGINT AS {_N} FROM rows GROUP BY ALL), "
        f"want AS (SELECT coalesce(h.{_H}, a.{_H}) AS {_H}, "
        + ", ".join(f"coalesce(h.{ident(c)}, a.{ident(c)}) AS {ident(c)}" for c in k)
        + f", coalesce(h.{_N}, 0) + coalesce(a.{_N}, 0) AS {_N} FROM have h "
        f"FULL OUTER JOIN ap a ON {_on(k, 'h', 'a')} AND h.{_H} = a.{_H}), "
        f"one AS (SELECT * FROM rows QUALIFY row_number() OVER (PARTITION BY {kl}, {_H}) = 1) "
        f"SELECT {shown} FROM one r JOIN want w ON {_on(k, 'r', 'w')} AND r.{_H} = w.{_H}, "
        f"range(greatest(w.{_N}, 0)::BIGINT) ORDER BY {order}"
    )
    items.update(
        _write_parts(
            scratch,
            prefix,
            _cast_batches(rel.to_arrow_reader(_ROW_GROUP), meta.schema),
            meta.schema,
            None,
            items,
        )
    )
    out: dict[str, bytes | os.PathLike[str] | None] = {}
    gone = {cands[p] for p in hit}
    for path in gone:
        if path in items:  # rewritten to the very same bytes
            del items[path]
        else:
            out[path] = None
    for path, local in _unique(items, dest):
        out[path] = local
    return out


def _unique(
    items: Mapping[str, os.PathLike[str]], dest: repos.Reference
) -> Iterator[tuple[str, os.PathLike[str]]]:
    """New parts under paths the destination does not hold yet (a part whose bytes
    equal a kept one's gets a suffix, so neither copy of its rows is lost)."""
    for path, local in items.items():
        final, n = path, 1
        while dest.object(final).exists():
            final, n = path.removesuffix(".parquet") + f"-m{n}.parquet", n + 1
        yield final, local
