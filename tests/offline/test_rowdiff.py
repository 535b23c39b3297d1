"""Row-level diff and three-way merge of a table by natural key, on a real repository."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import repos
from offline import OfflineError, RowChanges, RowConflictError, TableStore, merge_table, row_changes

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KEYS = ["driver", "ts"]
SCHEMA = pa.schema(
    [
        ("driver", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("rate", pa.float64()),
        ("note", pa.string()),
    ]
)


def rows(drivers: list[int], rate: float = 0.0, hour: int = 0) -> pa.Table:
    return pa.table(
        {
            "driver": drivers,
            "ts": [T0 + timedelta(hours=hour)] * len(drivers),
            "rate": [d + rate for d in drivers],
            "note": [f"d{d}" for d in drivers],
        },
        schema=SCHEMA,
    )


class TableResolver:
    """The resolver a feature store gives a merge: tables merge by key."""

    def __init__(self, tables: TableStore) -> None:
        self.tables = tables
        self.calls = 0

    def group(self, path: str) -> str | None:
        parts = path.split("/")
        return f"tables/{parts[1]}/" if len(parts) == 3 and parts[0] == "tables" else None

    def resolve(
        self, merge: repos.GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        self.calls += 1
        return merge_table(self.tables, merge, merge.group.split("/")[1], KEYS, scratch)


@pytest.fixture
def tables(tmp_path: Path) -> Iterator[TableStore]:
    repo = repos.Repository.create(tmp_path / "repo")
    t = TableStore(repo)
    t.create_table("main", "stats", SCHEMA, keys=KEYS)
    t.write("main", "stats", rows([1, 2, 3]))
    t.write("main", "stats", rows([4, 5, 6]))
    repo.branch("main").commit("base")
    repo.branch("dev").create("main")
    yield t
    repo.close()


def commit(tables: TableStore, branch: str) -> str:
    return tables.repo.branch(branch).commit(f"on {branch}").id


def content(tables: TableStore, ref: str) -> Counter[tuple[object, ...]]:
    return Counter(tuple(r.values()) for r in tables.read(ref, "stats").to_pylist())


def test_counts_and_rows_of_added_removed_and_changed_keys(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([2], rate=0.5), mode="upsert")
    tables.write("dev", "stats", rows([5]), mode="delete")
    tables.write("dev", "stats", rows([7, 8]))
    commit(tables, "dev")
    d = row_changes(tables, "stats", "main", "dev", KEYS)
    assert isinstance(d, RowChanges)
    assert (d.table, d.added, d.removed, d.changed) == ("stats", 2, 1, 1)
    assert d.rows("added").column("driver").to_pylist() == [7, 8]
    assert d.rows("removed").column("driver").to_pylist() == [5]
    changed = d.rows("changed")
    assert changed.column("__side").to_pylist() == ["left", "right"]
    assert changed.column("rate").to_pylist() == [2.0, 2.5]
    assert d.rows().num_rows == 5
    assert d.rows().schema.field("ts").type == pa.timestamp("us", tz="UTC")
    back = row_changes(tables, "stats", "dev", "main", KEYS)
    assert (back.added, back.removed, back.changed) == (1, 2, 1)
    with pytest.raises(OfflineError, match="change kind"):
        d.rows("moved")  # type: ignore[arg-type]


def test_compaction_is_no_change(tables: TableStore) -> None:
    assert tables.compact("dev", "stats")
    commit(tables, "dev")
    assert list(tables.repo.ref("main").diff("dev", "tables/stats/"))
    d = row_changes(tables, "stats", "main", "dev", KEYS)
    assert (d.added, d.removed, d.changed) == (0, 0, 0) and not d
    assert d.rows().num_rows == 0


def test_duplicate_rows_of_a_key_count_as_a_multiset(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([3]))  # a second, identical row of key 3
    commit(tables, "dev")
    d = row_changes(tables, "stats", "main", "dev", KEYS)
    assert d.rows().column("driver").to_pylist() == [3]
    assert d.rows().column("__side").to_pylist() == ["right"]


def test_a_table_only_on_one_side_is_all_added(tables: TableStore) -> None:
    tables.create_table("dev", "other", SCHEMA, keys=KEYS)
    tables.write("dev", "other", rows([1, 2]))
    commit(tables, "dev")
    d = row_changes(tables, "other", "main", "dev", KEYS)
    assert (d.added, d.removed, d.changed) == (2, 0, 0)
    with pytest.raises(OfflineError, match="no such column"):
        row_changes(tables, "stats", "main", "dev", ["nope"])


def merge(tables: TableStore, strategy: str | None = None) -> repos.Commit:
    return tables.repo.branch("dev").merge_into(
        "main",
        strategy=strategy,  # type: ignore[arg-type]
        resolver=TableResolver(tables),
    )


def test_disjoint_row_changes_in_the_same_objects_combine(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([1], rate=0.5), mode="upsert")
    commit(tables, "dev")
    tables.write("main", "stats", rows([2], rate=0.25), mode="upsert")
    tables.write("main", "stats", rows([9]))
    commit(tables, "main")
    expected = content(tables, "main")
    expected -= Counter({(1, T0, 1.0, "d1"): 1})
    expected += Counter({(1, T0, 1.5, "d1"): 1})
    merge(tables)
    assert content(tables, "main") == expected


def test_both_sides_the_same_change_is_no_conflict(tables: TableStore) -> None:
    for b in ("dev", "main"):
        tables.write(b, "stats", rows([4], rate=0.5), mode="upsert")
        tables.write(b, "stats", rows([10]))
        commit(tables, b)
    expected = content(tables, "main")
    merge(tables)
    assert content(tables, "main") == expected


def test_same_key_changed_differently_conflicts_and_lists_keys(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([1, 2, 6], rate=0.5), mode="upsert")
    commit(tables, "dev")
    tables.write("main", "stats", rows([2, 6], rate=0.75), mode="upsert")
    tables.write("main", "stats", rows([1]), mode="delete")
    head = commit(tables, "main")
    before = content(tables, "main")
    with pytest.raises(RowConflictError, match="3 key") as e:
        merge(tables)
    assert e.value.count == 3
    assert e.value.keys.column_names == KEYS
    assert e.value.keys.column("driver").to_pylist() == [1, 2, 6]
    assert e.value.keys_sample.equals(e.value.keys)
    assert tables.repo.branch("main").resolve() == head
    assert content(tables, "main") == before


def test_strategies_resolve_by_row(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([1, 2], rate=0.5), mode="upsert")
    tables.write("dev", "stats", rows([20]))
    commit(tables, "dev")
    tables.write("main", "stats", rows([2], rate=0.75), mode="upsert")
    tables.write("main", "stats", rows([3]), mode="delete")
    commit(tables, "main")
    tables.repo.branch("keep").create("main")
    merge(tables, "source-wins")
    got = {r["driver"]: r["rate"] for r in tables.read("main", "stats").to_pylist()}
    assert got == {1: 1.5, 2: 2.5, 4: 4.0, 5: 5.0, 6: 6.0, 20: 20.0}
    main = tables.repo.branch("main")
    main.reset()
    tables.repo.branch("dw").create("keep")
    tables.repo.branch("dev").merge_into("dw", strategy="dest-wins", resolver=TableResolver(tables))
    got = {r["driver"]: r["rate"] for r in tables.read("dw", "stats").to_pylist()}
    assert got == {1: 1.5, 2: 2.75, 4: 4.0, 5: 5.0, 6: 6.0, 20: 20.0}


def test_compaction_on_one_side_and_appends_on_the_other_merge_cleanly(
    tables: TableStore,
) -> None:
    assert tables.compact("dev", "stats")
    commit(tables, "dev")
    tables.write("main", "stats", rows([11, 12]))
    commit(tables, "main")
    expected = content(tables, "main")
    merge(tables)
    assert content(tables, "main") == expected
    tables.write("main", "stats", rows([2], rate=0.5), mode="upsert")
    commit(tables, "main")
    assert tables.compact("main", "stats")
    commit(tables, "main")
    tables.write("dev", "stats", rows([3], rate=0.5), mode="upsert")
    tables.write("dev", "stats", rows([13]))
    commit(tables, "dev")
    expected = content(tables, "main")
    expected -= Counter({(3, T0, 3.0, "d3"): 1})
    expected += Counter({(3, T0, 3.5, "d3"): 1, (13, T0, 13.0, "d13"): 1})
    merge(tables)
    assert content(tables, "main") == expected


def test_schema_object_changed_differently_conflicts(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([30]))
    assert tables.compact("dev", "stats", sort_by=["rate"])
    commit(tables, "dev")
    tables.write("main", "stats", rows([31]))
    assert tables.compact("main", "stats", sort_by=["note"])
    head = commit(tables, "main")
    with pytest.raises(RowConflictError, match="schema object"):
        merge(tables)
    assert tables.repo.branch("main").resolve() == head
    merge(tables, "source-wins")
    assert tables.keys("main", "stats") == tuple(KEYS)
    assert {r["driver"] for r in tables.read("main", "stats").to_pylist()} == {
        1,
        2,
        3,
        4,
        5,
        6,
        30,
        31,
    }


def test_merge_returns_changes_on_top_of_dest(tables: TableStore, tmp_path: Path) -> None:
    repo = tables.repo
    tables.write("dev", "stats", rows([1], rate=0.5), mode="upsert")
    src = commit(tables, "dev")
    tables.write("main", "stats", rows([1, 2], rate=0.0), mode="delete")
    tables.write("main", "stats", rows([1]))  # the same rows back: no change of key 1
    dst = commit(tables, "main")
    base = repo.ref("main~1").resolve()

    def side(a: str, b: str) -> dict[str, repos.ObjectInfo | None]:
        return {
            c.path: None if c.type == "removed" else repo.ref(b).object(c.path).stat()
            for c in repo.ref(a).diff(b, "tables/stats/")
        }

    gm = repos.GroupMerge("tables/stats/", base, src, dst, side(base, src), side(base, dst), None)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = merge_table(tables, gm, "stats", KEYS, scratch)
    assert out and all(p.startswith("tables/stats/") for p in out)
    for p, v in out.items():
        assert v is None or Path(v).is_file()
        assert v is not None or repo.ref(dst).object(p).exists()


def test_source_objects_untouched_on_dest_apply_as_they_are(tables: TableStore) -> None:
    tables.write("dev", "stats", rows([20]))
    tables.write("dev", "stats", rows([4], rate=0.5), mode="upsert")
    commit(tables, "dev")
    tables.write("main", "stats", rows([21]))
    commit(tables, "main")
    expected = content(tables, "main")
    expected -= Counter({(4, T0, 4.0, "d4"): 1})
    expected += Counter({(4, T0, 4.5, "d4"): 1, (20, T0, 20.0, "d20"): 1})
    merge(tables)
    assert content(tables, "main") == expected
    dev = {o.path: o.checksum for o in tables.repo.ref("dev").objects("tables/stats/")}
    main = {o.path: o.checksum for o in tables.repo.ref("main").objects("tables/stats/")}
    assert dev.items() - main.items() == set(), "the source's objects, reused"


def test_a_column_added_on_one_side_reads_as_null_on_the_other(tables: TableStore) -> None:
    from offline._tables import _Table

    wide = SCHEMA.append(pa.field("extra", pa.int64()))
    stored = TableStore._schema_bytes(_Table(wide, tuple(KEYS), tuple(KEYS)))
    tables.repo.branch("dev").object("tables/stats/_schema").upload(stored)
    tables.write("dev", "stats", rows([3], rate=0.5).append_column("extra", pa.array([7])))
    commit(tables, "dev")
    d = row_changes(tables, "stats", "main", "dev", KEYS)
    assert (d.added, d.removed, d.changed) == (1, 0, 0)
    assert d.rows().select(["driver", "extra", "__side"]).to_pylist() == [
        {"driver": 3, "extra": 7, "__side": "right"}
    ]
    back = row_changes(tables, "stats", "dev", "main", KEYS)
    assert (back.added, back.removed) == (0, 1)
    assert "extra" in back.rows().column_names


@pytest.mark.parametrize("buckets", [1, 3])
def test_unchanged_rows_sharing_a_bucket_with_changed_ones_cancel(
    tables: TableStore, buckets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import offline._rowdiff

    monkeypatch.setattr(offline._rowdiff, "_BUCKETS", buckets)
    tables.write("dev", "stats", rows([2], rate=0.5), mode="upsert")
    assert tables.compact("dev", "stats")
    commit(tables, "dev")
    d = row_changes(tables, "stats", "main", "dev", KEYS)
    assert (d.added, d.removed, d.changed) == (0, 0, 1)
    assert d.rows().column("rate").to_pylist() == [2.0, 2.5]
    tables.write("main", "stats", rows([40]))
    commit(tables, "main")
    expected = content(tables, "main")
    expected -= Counter({(2, T0, 2.0, "d2"): 1})
    expected += Counter({(2, T0, 2.5, "d2"): 1})
    merge(tables)
    assert content(tables, "main") == expected
