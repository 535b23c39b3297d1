"""Writes into branch namespaces over a real Valkey: pushes and online writes take a
branch only (a tag, commit expression or internal branch is refused before anything is
written), materialization refuses internal branches, status measures a rollback against
the default branch's head, and the CLI hints at a namespace never materialized."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import featurestore as fs
from featurestore.namespaces import materialized_any, namespaces
from tests.store_online.test_branch_namespaces import (
    END,
    ENTRY,
    FEATURES,
    NOW,
    _keys,
    _lookup,
    _rows,
    client,
    store,
)

__all__ = ["client", "store"]  # fixtures


def _refs(store: fs.FeatureStore) -> list[str]:
    store.repository.tag("v1").create("main")
    return ["v1", store.resolve(), "main~1", "nope"]


def test_a_push_or_write_to_a_tag_or_commit_is_refused_as_lookups_are(
    store: fs.FeatureStore, client: redis.Redis
) -> None:
    main_before = _lookup(store)
    for ref in _refs(store):
        for to in ("online", "offline", "online_and_offline"):
            with pytest.raises(fs.NotFoundError, match=r"is not a branch.*branch name"):
                store.push("stats_push", _rows([2], trips=700, at=NOW), to=to, branch=ref)
        with pytest.raises(fs.NotFoundError, match=r"is not a branch.*materialize"):
            store.write_to_online_store("stats", _rows([3], trips=900, at=NOW), branch=ref)
        with pytest.raises(fs.NotFoundError, match="is not a branch"):
            store.write_to_offline_store("stats", _rows([3], trips=900, at=NOW), branch=ref)
    assert namespaces(store) == []
    assert _keys(client, f"{store.config.project}@*") == []
    assert [s.namespace for s in store.online_status()] == ["main"]
    assert _lookup(store) == main_before
    assert list(store.repository.branch("main").uncommitted()) == []


@pytest.mark.parametrize("internal", ["serving-log", "saved-datasets"])
def test_internal_branches_take_no_push_write_or_materialization(
    store: fs.FeatureStore, client: redis.Redis, internal: str
) -> None:
    store.repository.branch(internal).create("main", exist_ok=True)
    with pytest.raises(fs.RefusedError, match=f"cannot push to branch '{internal}'.*internal"):
        store.push("stats_push", _rows([2], trips=700, at=NOW), branch=internal)
    with pytest.raises(fs.RefusedError, match="internal"):
        store.write_to_online_store("stats", _rows([3], trips=900, at=NOW), branch=internal)
    for run in (
        lambda: store.materialize(None, END, ref=internal),
        lambda: store.materialize_incremental(END, ref=internal),
    ):
        with pytest.raises(fs.RefusedError, match=f"cannot materialize from branch '{internal}'"):
            run()
    assert _keys(client, f"{store.config.project}@*") == []
    (main,) = store.online_status()
    assert main.branch == "main" and main.up_to_date


def test_a_rollback_is_measured_against_the_default_branchs_head(store: fs.FeatureStore) -> None:
    store.repository.tag("v1").create("main")
    store.ingest("stats_src", _rows([4], trips=1), branch="main")
    store.commit("more on main")
    store.ingest("stats_src", _rows([5], trips=2), branch="main")
    store.commit("and more")
    store.materialize(None, END, ref="v1")
    (main,) = store.online_status()
    assert (main.namespace, main.branch, main.commit_id) == ("main", "v1", store.resolve("v1"))
    assert main.branch_head == store.resolve("main")
    assert main.commits_behind == 2 and not main.up_to_date
    # a commit off main's history is no count of commits behind
    store.repository.branch("side").create("main")
    store.ingest("stats_src", _rows([6], trips=3), branch="side")
    store.commit("side", branch="side")
    store.materialize(None, END, ref=store.resolve("side"))
    (main,) = store.online_status()
    assert main.commits_behind is None and main.branch_head == store.resolve("main")
    assert not main.up_to_date
    # serving main again is up to date
    store.materialize(None, END)
    (main,) = store.online_status()
    assert (main.branch, main.commits_behind, main.up_to_date) == ("main", 0, True)


def test_materialized_any_names_a_namespace_never_materialized(store: fs.FeatureStore) -> None:
    assert materialized_any(store, None) and materialized_any(store, "main")
    assert not materialized_any(store, "dev")
    got = store.get_online_features(FEATURES, {"driver_id": [1, 3]}, ref="dev")
    assert {s for n in got.feature_names for s in got.statuses(n)} == {"NOT_FOUND"}
    store.materialize(None, END, ref="dev")
    assert materialized_any(store, "dev")


def _cli(store: fs.FeatureStore, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "-r", str(store.config.project_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "200"},
    )


def test_the_cli_refuses_internal_refs_shows_rollbacks_and_hints(
    store: fs.FeatureStore, redis_url: str
) -> None:
    start = (NOW - timedelta(days=1)).isoformat()
    store.repository.branch("serving-log").create("main", exist_ok=True)
    refused = _cli(store, redis_url, "materialize", start, "now", "--ref", "serving-log")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "cannot materialize from branch 'serving-log': it is internal" in refused.stderr
    assert "Materialized" not in refused.stdout

    lookup = ("online", "-e", "driver_id=3", "-f", "stats:trips", "--json")
    never = _cli(store, redis_url, *lookup, "--ref", "dev")
    assert never.returncode == 0, never.stderr
    assert json.loads(never.stdout)[0]["statuses"] == {"trips": "NOT_FOUND"}
    assert "featurestore materialize START now --ref dev" in never.stderr
    # main was materialized: a key it lacks is no hint
    absent = _cli(store, redis_url, *lookup)
    assert absent.returncode == 0 and "hint" not in absent.stderr

    store.repository.tag("v1").create("main")
    store.ingest("stats_src", _rows([4], trips=1), branch="main")
    store.commit("more on main")
    assert _cli(store, redis_url, "materialize", start, "now", "--ref", "v1").returncode == 0
    (row,) = json.loads(_cli(store, redis_url, "status", "--json").stdout)
    assert (row["branch"], row["commit_id"], row["commits_behind"]) == (
        "v1",
        store.resolve("v1"),
        1,
    )
    assert row["branch_head"] == store.resolve("main") and row["up_to_date"] is False
    assert "commit" not in row
    table = _cli(store, redis_url, "status").stdout
    assert "up to date" not in table and "v1 served on main" in table
