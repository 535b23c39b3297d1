"""``featurestore diff --rows`` and ``featurestore merge`` by key, as the console entry
point in subprocesses, on the driver_stats example."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pandas as pd

from featurestore import FeatureStore
from tests.cli.conftest import Run

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def rows(*items: tuple[int, float, int]) -> pd.DataFrame:
    """driver_hourly_stats rows (driver, conv_rate, trips), all at T0."""
    return pd.DataFrame(
        {
            "driver_id": [d for d, _, _ in items],
            "event_timestamp": [T0] * len(items),
            "created": [T0] * len(items),
            "conv_rate": [c for _, c, _ in items],
            "acc_rate": [0.5] * len(items),
            "avg_daily_trips": [t for _, _, t in items],
        }
    )


def branched(store: FeatureStore) -> None:
    """Three drivers on main; dev made from it."""
    store.ingest("driver_stats", rows((1001, 0.1, 10), (1002, 0.2, 20), (1003, 0.3, 30)))
    store.commit("rows")
    store.repository.branch("dev").create("main")


def upsert(store: FeatureStore, branch: str, *items: tuple[int, float, int]) -> None:
    store.ingest("driver_stats", rows(*items), branch=branch, mode="upsert")
    store.commit(f"upsert on {branch}", branch=branch)


def test_diff_rows_counts_and_shows_the_changed_rows(fs: Run, applied: FeatureStore) -> None:
    branched(applied)
    upsert(applied, "dev", (1001, 0.15, 11), (1004, 0.4, 40))

    out = fs("diff", "main", "dev", "--rows").stdout
    assert "Table driver_stats: 1 added, 0 removed, 1 changed" in out
    assert "keys by driver_id, event_timestamp" in out
    assert "1004" in out and "0.15" in out
    assert "change" in out and "side" in out and "__change" not in out
    assert "No changes" not in out

    few = fs("diff", "main", "dev", "--rows", "--limit", "1").stdout
    assert "1 of 3 rows" in few
    same = fs("diff", "main", "main", "--rows").stdout
    assert "No changes" in same


def test_diff_rows_as_json_and_of_one_table(fs: Run, applied: FeatureStore) -> None:
    branched(applied)
    upsert(applied, "dev", (1001, 0.15, 11), (1004, 0.4, 40))
    doc = json.loads(fs("diff", "main", "dev", "--rows", "--json", "--limit", "5").stdout)
    (table,) = doc["tables"]
    assert (table["table"], table["added"], table["removed"], table["changed"]) == (
        "driver_stats",
        1,
        0,
        1,
    )
    assert table["rows_total"] == 3 and len(table["rows"]) == 3
    assert doc["right_commit"] == applied.resolve("dev")
    assert doc["definitions"]["entries"] == []

    only = json.loads(fs("diff", "main", "dev", "--table", "driver_stats", "--json").stdout)
    assert [t["table"] for t in only["tables"]] == ["driver_stats"]
    missing = fs("diff", "main", "dev", "--rows", "--table", "nope", code=1)
    assert "no table 'nope'" in missing.stderr


def test_diff_rows_takes_two_refs(fs: Run, applied: FeatureStore) -> None:
    branched(applied)
    applied.ingest("driver_stats", rows((1009, 0.9, 90)), branch="dev")
    refused = fs("diff", "dev", "--rows", code=1)
    assert "give RIGHT too" in refused.stderr
    applied.commit("one more row", branch="dev")
    out = fs("diff", "dev~1", "dev", "--rows").stdout
    assert "1 added, 0 removed, 0 changed" in out


def test_merge_conflict_lists_the_keys_and_merges_nothing(fs: Run, applied: FeatureStore) -> None:
    branched(applied)
    upsert(applied, "dev", (1001, 0.11, 11))
    upsert(applied, "main", (1001, 0.12, 12))
    head = applied.resolve("main")

    failed = fs("merge", "dev", "main", code=1)
    assert "Table driver_stats: 1 key changed differently on both sides" in failed.stdout
    assert "1001" in failed.stdout and "1 of 1 keys" in failed.stdout
    assert "conflicts" in failed.stderr and "source-wins" in failed.stderr
    assert applied.resolve("main") == head

    merged = fs("merge", "dev", "main", "--strategy", "dest-wins").stdout
    assert "Merged dev into main" in merged
    table = applied.tables.read("main", "driver_stats").sort_by("driver_id")
    assert table.column("avg_daily_trips").to_pylist() == [12, 20, 30]


def test_merge_combines_disjoint_upserts(fs: Run, applied: FeatureStore) -> None:
    branched(applied)
    upsert(applied, "dev", (1001, 0.11, 11))
    upsert(applied, "main", (1002, 0.22, 22))
    fs("merge", "dev", "main", "-m", "by key")
    table = applied.tables.read("main", "driver_stats").sort_by("driver_id")
    assert table.column("avg_daily_trips").to_pylist() == [11, 22, 30]
    assert applied.repository.ref("main").get_commit().message == "by key"


def test_a_table_diff_names_the_option_given_and_definitions_read_as_a_diff(
    fs: Run, applied: FeatureStore
) -> None:
    branched(applied)
    err = fs("diff", "main", "--table", "driver_stats", code=1).stderr
    assert err.startswith("error: --table (a row diff) compares the commits of two refs")
    assert "`featurestore diff main~1 main --table driver_stats`" in err
    shown = " ".join(fs("diff", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "by key (join keys and event time; the created time is part of a row's value)" in shown

    assert str(applied.diff("main~1", "main").definitions) == "No definition changes."
    view = applied.get_feature_view("driver_hourly_stats")
    applied.apply([dataclasses.replace(view, ttl=timedelta(hours=6))], branch="dev")
    applied.commit("shorter ttl", branch="dev")
    changed = applied.diff("main", "dev").definitions
    assert str(changed).splitlines()[-1] == "0 added, 1 changed, 0 removed."
    for args in (("diff", "main", "dev", "--rows"), ("diff", "main", "dev")):
        out = fs(*args, env={"COLUMNS": "200"}).stdout
        assert "Definition changes" in out and "featurestore plan" not in out, out
        assert "0 added, 1 changed, 0 removed" in out and "to change" not in out
    plan = applied.plan([dataclasses.replace(view, ttl=timedelta(hours=5))])
    assert "1 to change" in str(plan) and plan.to_rich().title == "featurestore plan"
