"""The key-level merge against a dict-of-rows model, on random histories: each side
upserts, deletes, appends new keys and compacts (each a commit), then a real ``repos``
merge with a resolver that calls ``offline.merge_table``. ``ROW_MERGE_EXAMPLES=300``
runs a longer search (30 examples by default)."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import repos
from offline import RowConflictError, TableStore, merge_table

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KEYS = ["driver", "ts"]
SCHEMA = pa.schema(
    [("driver", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("rate", pa.float64())]
)
BASE_KEYS = range(8)
NEW_KEYS = range(20, 24)

Row = tuple[int, datetime, float]
Model = dict[tuple[int, datetime], Counter[Row]]


class TableResolver:
    """Groups ``tables/<name>/``; merges each such group by key."""

    def __init__(self, tables: TableStore) -> None:
        self.tables = tables

    def group(self, path: str) -> str | None:
        parts = path.split("/")
        return f"tables/{parts[1]}/" if len(parts) == 3 and parts[0] == "tables" else None

    def resolve(
        self, merge: repos.GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        return merge_table(self.tables, merge, merge.group.split("/")[1], KEYS, scratch)


def table(rows: list[Row]) -> pa.Table:
    return pa.table(
        {
            "driver": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "rate": [r[2] for r in rows],
        },
        schema=SCHEMA,
    )


ops = st.one_of(
    st.tuples(
        st.just("upsert"),
        st.lists(st.sampled_from([*BASE_KEYS, *NEW_KEYS]), min_size=1, max_size=3, unique=True),
        st.sampled_from([0.5, 1.5]),
    ),
    st.tuples(
        st.just("delete"),
        st.lists(st.sampled_from([*BASE_KEYS, *NEW_KEYS]), min_size=1, max_size=2, unique=True),
        st.just(0.0),
    ),
    st.tuples(
        st.just("append"),
        st.lists(st.sampled_from(NEW_KEYS), min_size=1, max_size=2, unique=True),
        st.sampled_from([0.0, 2.5]),
    ),
    st.tuples(st.just("compact"), st.just([]), st.just(0.0)),
)


def apply(tables: TableStore, branch: str, model: Model, op: tuple[str, list[int], float]) -> None:
    kind, drivers, rate = op
    keys = [(d, T0) for d in drivers]
    if kind == "upsert":
        tables.write(branch, "t", table([(d, T0, d + rate) for d in drivers]), mode="upsert")
        for d, k in zip(drivers, keys, strict=True):
            model[k] = Counter({(d, T0, d + rate): 1})
    elif kind == "delete":
        tables.write(branch, "t", table([(d, T0, 0.0) for d in drivers]), mode="delete")
        for k in keys:
            model.pop(k, None)
    elif kind == "append":
        fresh = [d for d, k in zip(drivers, keys, strict=True) if k not in model]
        if not fresh:
            return
        tables.write(branch, "t", table([(d, T0, d + rate) for d in fresh]))
        for d in fresh:
            model[(d, T0)] = Counter({(d, T0, d + rate): 1})
    elif not tables.compact(branch, "t", target_rows=4):
        return
    tables.repo.branch(branch).commit(f"{kind} {drivers}", allow_empty=True)


def rows_of(tables: TableStore, ref: str) -> list[Row]:
    return sorted((r["driver"], r["ts"], r["rate"]) for r in tables.read(ref, "t").to_pylist())


def flat(model: Model) -> list[Row]:
    return sorted(model_rows for c in model.values() for model_rows in c.elements())


@settings(
    max_examples=int(os.environ.get("ROW_MERGE_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@example(  # disjoint upserts, a compaction and an append
    source=[("upsert", [1], 0.5), ("compact", [], 0.0)],
    dest=[("append", [20], 0.0), ("upsert", [2], 1.5)],
    strategy=None,
)
@example(  # the same key upserted differently: a conflict
    source=[("upsert", [3], 0.5)], dest=[("upsert", [3], 1.5)], strategy=None
)
@given(
    source=st.lists(ops, max_size=4),
    dest=st.lists(ops, max_size=4),
    strategy=st.sampled_from([None, None, "source-wins", "dest-wins"]),
)
def test_key_merge_matches_the_model(
    source: list[tuple[str, list[int], float]],
    dest: list[tuple[str, list[int], float]],
    strategy: str | None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = repos.Repository.create(Path(tmp) / "repo")
        try:
            tables = TableStore(repo)
            tables.create_table("main", "t", SCHEMA, keys=KEYS)
            base: Model = {}
            for half in (BASE_KEYS[:4], BASE_KEYS[4:]):  # two parts
                tables.write("main", "t", table([(d, T0, float(d)) for d in half]))
                base.update({(d, T0): Counter({(d, T0, float(d)): 1}) for d in half})
            repo.branch("main").commit("base")
            repo.branch("dev").create("main")
            s_model, d_model = dict(base), dict(base)
            for op in source:
                apply(tables, "dev", s_model, op)
            for op in dest:
                apply(tables, "main", d_model, op)
            assert rows_of(tables, "dev") == flat(s_model)
            assert rows_of(tables, "main") == flat(d_model)
            expected: Model = {}
            clashes = []
            for k in sorted({*base, *s_model, *d_model}):
                b, s, d = base.get(k), s_model.get(k), d_model.get(k)
                if s != b and d != b and s != d:
                    clashes.append(k)
                    v = s if strategy == "source-wins" else d
                else:
                    v = s if s != b else d
                if v:
                    expected[k] = v
            head = repo.branch("main").resolve()
            try:
                repo.branch("dev").merge_into(
                    "main",
                    strategy=strategy,  # type: ignore[arg-type]
                    resolver=TableResolver(tables),
                    allow_empty=True,
                )
            except RowConflictError as e:
                event("conflict")
                assert clashes and strategy is None, f"unexpected conflict: {e}"
                assert e.count == len(clashes)
                got = list(
                    zip(
                        e.keys.column("driver").to_pylist(),
                        e.keys.column("ts").to_pylist(),
                        strict=True,
                    )
                )
                assert got == clashes[:20]
                assert repo.branch("main").resolve() == head
                assert rows_of(tables, "main") == flat(d_model)
                return
            assert not clashes or strategy is not None, f"missed conflicts on {clashes}"
            event(f"merged, {'with' if clashes else 'no'} conflicts resolved by strategy")
            assert rows_of(tables, "main") == flat(expected)
        finally:
            repo.close()
