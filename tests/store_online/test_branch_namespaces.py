"""Online data namespaced by branch, over a real Valkey: a branch materializes and pushes
into its own namespace, lookups read one by ``ref=``, ``main`` sends the very same
commands whatever other branches hold, status reports each namespace, and deleting a
branch (or tearing down) frees its keys."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import redis

import featurestore as fs
from featurestore.namespaces import (
    collect_orphans,
    delete_entity_online,
    namespaces,
    online_for,
)
from tests.store_online.defs import definitions
from tests.store_online.proxy import RoundTripProxy

ENTRY = "from featurestore.cli import main; main()"
NOW = datetime.now(UTC).replace(microsecond=0)
END = NOW + timedelta(seconds=1)
TS = pa.timestamp("us", tz="UTC")
FEATURES = ["stats:conv_rate", "stats:trips"]
DRIVERS = {"driver_id": [1, 2, 3]}


def _rows(ids: list[int], trips: int, at: datetime = NOW - timedelta(minutes=5)) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "event_ts": pa.array([at] * n, TS),
            "created": pa.array([at] * n, TS),
            "conv_rate": pa.array([0.5] * n, pa.float32()),
            "acc_rate": pa.array([0.25] * n, pa.float64()),
            "trips": pa.array([trips] * n, pa.int64()),
            "city": pa.array(["x"] * n, pa.string()),
        }
    )


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def store(new_store: Callable[..., fs.FeatureStore]) -> fs.FeatureStore:
    """Drivers 1 and 2 (trips 7) committed on main and materialized; branch ``dev`` made
    from there with driver 1 at trips 70 and driver 3 new, committed."""
    s = new_store()
    s.apply(definitions())
    s.ingest("stats_src", _rows([1, 2], trips=7))
    s.commit("main data")
    s.materialize(None, END)
    s.repository.branch("dev").create("main")
    s.ingest("stats_src", _rows([1, 3], trips=70, at=NOW - timedelta(minutes=1)), branch="dev")
    s.commit("dev data", branch="dev")
    return s


def _keys(client: redis.Redis, pattern: str) -> list[bytes]:
    return sorted(client.scan_iter(match=pattern, count=1000))


def _lookup(store: fs.FeatureStore, ref: str | None = None) -> dict[str, Any]:
    got = store.get_online_features(FEATURES, DRIVERS, now=NOW, ref=ref)
    commits = {k: got.commits[k].to_pylist() for k in got.commits}
    return {**got.to_dict(include_event_timestamps=True), "commits": commits}


def _commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k: int(v["calls"]) for k, v in stats.items() if isinstance(v, dict)}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    out.pop("cmdstat_info", None)
    return out


def test_a_branch_serves_from_its_own_namespace(
    store: fs.FeatureStore, client: redis.Redis
) -> None:
    prefix = store.config.project
    main_before = _lookup(store)
    (result,) = [r for r in store.materialize(None, END, ref="dev") if r.view == "stats"]
    assert result.branch == "dev" and result.rows_written == 3
    assert _lookup(store) == main_before  # value for value, commits and times too
    assert main_before["trips"] == [7, 7, None]
    dev = _lookup(store, ref="dev")
    assert dev["trips"] == [70, 7, 70]
    assert dev["commits"]["trips"] == [store.resolve("dev")] * 3
    assert _lookup(store, ref="main") == main_before
    assert _keys(client, f"{prefix}@dev:stats:*") != []
    assert namespaces(store) == ["dev"]
    # an incremental run of dev reads dev's record, not main's
    (again,) = [r for r in store.materialize_incremental(END, ref="dev") if r.view == "stats"]
    assert not again.full and again.rows_written == 0


def test_main_lookups_send_the_same_commands_whatever_other_branches_hold(
    store: fs.FeatureStore, client: redis.Redis, redis_url: str
) -> None:
    _lookup(store)  # plans and connections made
    before = _commands(client)
    first = _lookup(store)
    alone = _delta(before, _commands(client))
    store.materialize(None, END, ref="dev")
    store.push("stats_push", _rows([2], trips=700, at=NOW), branch="dev")
    before = _commands(client)
    second = _lookup(store)
    beside = _delta(before, _commands(client))
    assert first == second
    assert alone == beside == {"cmdstat_hmget": 3}
    # one round trip each, on main and on the branch
    proxy = RoundTripProxy(redis_url)
    config = store.config.model_copy(
        update={"online_store": store.config.online_store.model_copy(update={"url": proxy.url})}
    )
    with fs.FeatureStore(config=config) as through:
        for ref in (None, "dev"):
            through.get_online_features(FEATURES, DRIVERS, now=NOW, ref=ref)
            turns = proxy.turns
            through.get_online_features(FEATURES, DRIVERS, now=NOW, ref=ref)
            assert proxy.turns - turns == 1
    proxy.close()


def test_a_push_or_write_to_a_branch_leaves_main_alone(
    store: fs.FeatureStore, client: redis.Redis
) -> None:
    main_before = _lookup(store)
    store.push("stats_push", _rows([2], trips=700, at=NOW), branch="dev")
    store.write_to_online_store("stats", _rows([3], trips=900, at=NOW), branch="dev")
    assert _lookup(store) == main_before
    assert _lookup(store, ref="dev")["trips"] == [None, 700, 900]
    assert _keys(client, f"{store.config.project}:stats:*") != []
    # a push to main is seen by main only
    store.push("stats_push", _rows([1], trips=1000, at=NOW), to="online")
    assert _lookup(store)["trips"] == [1000, 7, None]
    assert _lookup(store, ref="dev")["trips"] == [None, 700, 900]


def test_status_reports_each_namespace(store: fs.FeatureStore) -> None:
    store.materialize(None, END, ref="dev")
    rows = {(s.namespace, s.view): s for s in store.online_status()}
    main, dev = rows[("main", "stats")], rows[("dev", "stats")]
    assert (main.branch, main.commit_id, main.up_to_date) == ("main", store.resolve(), True)
    assert (dev.branch, dev.commit_id, dev.up_to_date) == ("dev", store.resolve("dev"), True)
    store.ingest("stats_src", _rows([4], trips=1), branch="dev")
    store.commit("more on dev", branch="dev")
    statuses = store.online_status()
    (dev,) = [s for s in statuses if s.namespace == "dev" and s.view == "stats"]
    assert dev.commits_behind == 1 and not dev.up_to_date
    (main,) = [s for s in statuses if s.namespace == "main" and s.view == "stats"]
    assert main.up_to_date
    assert [s.namespace for s in statuses] == sorted(
        (s.namespace for s in statuses), key=lambda n: n != "main"
    )


def test_deleting_a_branch_frees_its_keys(store: fs.FeatureStore, client: redis.Redis) -> None:
    prefix = store.config.project
    store.materialize(None, END, ref="dev")
    main_before = _lookup(store)
    assert _lookup(store, ref="dev")["trips"] == [70, 7, 70]
    main_keys = _keys(client, f"{prefix}:*")
    assert f"{prefix}:_namespaces".encode() in main_keys  # the listing of namespaces
    assert store.delete_branch("dev") >= 4  # three entities and the record
    assert _keys(client, f"{prefix}@*") == []
    assert _keys(client, f"{prefix}:*") == [k for k in main_keys if not k.endswith(b"_namespaces")]
    assert _lookup(store) == main_before
    assert namespaces(store) == []
    with pytest.raises(fs.NotFoundError, match="'dev' is not a branch"):
        _lookup(store, ref="dev")  # looked up (and cached) before the delete
    assert [s.namespace for s in store.online_status()] == ["main"] * len(store.online_status())


def test_a_branch_deleted_without_its_keys_is_freed_later(
    store: fs.FeatureStore, client: redis.Redis
) -> None:
    prefix = store.config.project
    store.materialize(None, END, ref="dev")
    store.repository.branch("other").create("main")
    store.materialize(None, END, ref="other")
    store.repository.branch("dev").delete()  # through repos: the online keys stay
    assert _keys(client, f"{prefix}@dev:*") != []
    (gone,) = [s for s in store.online_status() if s.namespace == "dev"]
    assert gone.view == "stats" and gone.branch_head is None
    # the next delete of any branch frees the orphan too
    store.repository.branch("spare").create("main")
    store.delete_branch("spare")
    assert _keys(client, f"{prefix}@dev:*") == []
    assert _keys(client, f"{prefix}@other:*") != []
    # and an orphan that was never listed is found by walking the keyspace
    client.set(f"{prefix}@ghost:stats:x", b"1")
    assert collect_orphans(store) == {"ghost": 1}
    assert namespaces(store) == ["other"]


def test_lookups_take_a_branch_not_a_tag_or_commit(store: fs.FeatureStore) -> None:
    store.repository.tag("v1").create("main")
    for ref in ("v1", store.resolve(), "main~1", "nope", "saved-datasets"):
        with pytest.raises(fs.NotFoundError, match=r"is not a branch.*branch name"):
            store.get_online_features(FEATURES, DRIVERS, ref=ref)
    # materializing a tag serves it on the default branch, as a rollback
    (result,) = [r for r in store.materialize(None, END, ref="v1") if r.view == "stats"]
    assert result.branch == "v1"
    (main,) = [s for s in store.online_status() if s.view == "stats"]
    assert (main.namespace, main.branch) == ("main", "v1")
    assert namespaces(store) == []


def test_a_refused_run_lists_no_namespace(store: fs.FeatureStore, client: redis.Redis) -> None:
    with pytest.raises(fs.NotFoundError, match="no feature view"):
        store.materialize(None, END, ["missing"], ref="dev")
    with pytest.raises(fs.SchemaError):
        store.push("stats_push", {"driver_id": [1]}, branch="dev")
    assert namespaces(store) == []
    assert _keys(client, f"{store.config.project}@*") == []


def test_teardown_and_erasure_reach_every_namespace(
    store: fs.FeatureStore, client: redis.Redis
) -> None:
    prefix = store.config.project
    store.materialize(None, END, ref="dev")
    assert delete_entity_online(store, {"driver_id": 1}) == 2  # main's and dev's
    assert _lookup(store)["trips"] == [None, 7, None]
    assert _lookup(store, ref="dev")["trips"] == [None, 7, 70]
    assert delete_entity_online(store, {"driver_id": 1}) == 0
    assert online_for(store, "dev").key_prefix == f"{prefix}@dev"
    assert online_for(store, None) is store.online_store
    assert store.teardown() > 0
    assert _keys(client, f"{prefix}:*") == _keys(client, f"{prefix}@*") == []


def test_an_unreachable_store_warns_and_keeps_the_delete(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    store = new_store("dead", url=dead)
    store.repository.branch("dev").create("main")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.delete_branch("dev") == 0
    assert any("featurestore gc" in str(w.message) for w in caught)
    assert [b.id for b in store.branches()] == ["main"]


def _cli(store: fs.FeatureStore, redis_url: str, *args: str) -> str:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "REDIS_URL": redis_url}
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "-r", str(store.config.project_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_the_cli_materializes_shows_reads_and_frees_a_branch(
    store: fs.FeatureStore, client: redis.Redis, redis_url: str
) -> None:
    prefix = store.config.project
    _cli(store, redis_url, "materialize", (NOW - timedelta(days=1)).isoformat(), END.isoformat(),
         "--ref", "dev")  # fmt: skip
    rows = json.loads(_cli(store, redis_url, "status", "--json"))
    assert {(r["namespace"], r["view"], r["branch"]) for r in rows} == {
        ("main", "stats", "main"),
        ("dev", "stats", "dev"),
    }
    assert "namespace" in _cli(store, redis_url, "status")
    lookup = ("online", "-e", "driver_id=3", "-f", "stats:trips", "--json")
    looked = [
        json.loads(_cli(store, redis_url, *lookup, *ref))[0]["trips"]
        for ref in ((), ("--ref", "dev"))
    ]
    assert looked == [None, 70]
    out = _cli(store, redis_url, "branch", "delete", "dev")
    assert "Deleted branch dev; freed 4 online key(s)" in out
    assert _keys(client, f"{prefix}@*") == []
    # a branch deleted through repos leaves its keys until gc finds them
    store.repository.branch("other").create("main")
    store.materialize(None, END, ref="other")
    store.repository.branch("other").delete()
    assert "Freed 3 online key(s) of deleted branch other" in _cli(store, redis_url, "gc")
    assert _keys(client, f"{prefix}@*") == []


def test_a_key_prefix_with_the_namespace_separator_is_refused(tmp_path: Path) -> None:
    (tmp_path / "featurestore.yaml").write_text(
        "project: p\nstorage: data\nonline_store:\n  key_prefix: a@b\n"
    )
    with pytest.raises(fs.ConfigError, match=r"key_prefix.*may not hold '@'.*got 'a@b'"):
        fs.load_config(tmp_path)
