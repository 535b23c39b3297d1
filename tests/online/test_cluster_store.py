"""`RedisClusterOnlineStore` on a real 3-primary / 3-replica Valkey Cluster: key layout,
routing, aggregation series, and a primary killed mid-write."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import redis

import online
from online.cluster_store import cluster_key, hash_slot
from tests.online.cluster import Cluster, drop_cluster_prefix

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def keys(*ids: int) -> list[bytes]:
    return [online.encode_entity_key(["driver_id"], [i]) for i in ids]


def ts(n: int, at: datetime = T0) -> pa.Array:
    return pa.array([at] * n, pa.timestamp("us", tz="UTC"))


@pytest.fixture
def store(valkey_cluster: Cluster) -> Iterator[online.RedisClusterOnlineStore]:
    prefix = f"c{uuid.uuid4().hex[:12]}"
    s = online.RedisClusterOnlineStore(valkey_cluster.url, key_prefix=prefix)
    try:
        yield s
    finally:
        s.close()
        drop_cluster_prefix(valkey_cluster.url, prefix)


@pytest.fixture
def raw(valkey_cluster: Cluster) -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster.from_url(valkey_cluster.url)
    try:
        yield client
    finally:
        client.close()


def test_hash_tag_wraps_the_escaped_entity_key() -> None:
    assert cluster_key(b"ab") == b"{ab}"
    assert cluster_key(b"a}b|") == b"{a|)b||}"
    # one pair of braces whatever the key holds, so the tag is the whole entity key
    for k in [b"}", b"{", b"{}", b"x}y{z", bytes(range(256))]:
        tagged = cluster_key(k)
        assert tagged.count(b"}") == 1 and tagged.endswith(b"}")
        assert hash_slot(b"p:view_a:" + tagged) == hash_slot(b"p:view_b~tiles:" + tagged)
    assert cluster_key(b"a|)") != cluster_key(b"a}")  # the escape is one-to-one
    assert hash_slot(b"{user1000}.following") == hash_slot(b"{user1000}.followers")
    assert hash_slot(b"foo") == 12182


def test_views_of_one_entity_share_a_slot_and_keys_spread(
    store: online.RedisClusterOnlineStore, raw: redis.RedisCluster
) -> None:
    ks = keys(*range(300))
    for view in ("a", "b"):
        store.write(view, ks, pa.table({"v": list(range(300))}), ts(300))
    slots = set()
    for k in ks:
        key_a = f"{store.key_prefix}:a:".encode() + cluster_key(k)
        key_b = f"{store.key_prefix}:b:".encode() + cluster_key(k)
        assert raw.keyslot(key_a) == raw.keyslot(key_b)
        assert raw.exists(key_a) == raw.exists(key_b) == 1
        slots.add(raw.keyslot(key_a))
    owners = {
        raw.get_node_from_key(f"{store.key_prefix}:a:".encode() + cluster_key(k)).name for k in ks
    }
    assert len(owners) == 3 and len(slots) > 250


def test_ttl_sets_the_key_expiry(
    store: online.RedisClusterOnlineStore, raw: redis.RedisCluster
) -> None:
    now = datetime.now(UTC)
    ks = keys(1, 2)
    stamps = pa.array([now - timedelta(hours=2), now], pa.timestamp("us", tz="UTC"))
    store.write("e", ks, pa.table({"v": [1, 2]}), stamps, ttl=timedelta(hours=1))
    prefix = f"{store.key_prefix}:e:".encode()
    assert raw.exists(prefix + cluster_key(ks[0])) == 0
    expected = int((now + timedelta(hours=1)).timestamp() * 1_000_000) // 1000
    assert raw.pexpiretime(prefix + cluster_key(ks[1])) == expected


def test_bad_input_leaves_nothing(
    store: online.RedisClusterOnlineStore, raw: redis.RedisCluster
) -> None:
    with pytest.raises(online.InvalidInputError, match="brace"):
        store.write("t{x}", keys(1), pa.table({"v": [1]}), ts(1))
    with pytest.raises(online.InvalidInputError):
        store.write("t", keys(1, 2), pa.table({"v": [1]}), ts(1))
    with pytest.raises(online.InvalidInputError, match="brace"):
        store.with_prefix("a{b}")
    assert list(raw.scan_iter(match=f"{store.key_prefix}:*", target_nodes="primaries")) == []


def test_wrong_key_type_is_a_command_error(
    store: online.RedisClusterOnlineStore, raw: redis.RedisCluster
) -> None:
    raw.set(f"{store.key_prefix}:t:".encode() + cluster_key(keys(1)[0]), b"a string")
    with pytest.raises(online.CommandError, match="WRONGTYPE"):
        store.write("t", keys(1), pa.table({"v": [1]}), ts(1))
    with pytest.raises(online.CommandError):
        store.read([online.ReadRequest("t", keys(1), pa.schema([("v", pa.int64())]))])


def test_a_lookup_is_one_pipeline_per_node(
    store: online.RedisClusterOnlineStore, valkey_cluster: Cluster
) -> None:
    ks = keys(*range(100))
    for view in ("a", "b"):
        store.write(view, ks, pa.table({view: list(range(100))}), ts(100))
    schema_a, schema_b = pa.schema([("a", pa.int64())]), pa.schema([("b", pa.int64())])
    reader = store.prepare_read(
        [online.ReadRequest("a", (), schema_a), online.ReadRequest("b", (), schema_b)]
    )
    reader.read_columns([ks[:1], ks[:1]])  # connect first
    trips: list[int] = []
    for node in store._topology.primaries:
        original = node._links.get

        def counted(original=original) -> online._links.Link:  # type: ignore[no-untyped-def]
            trips.append(1)
            return original()

        node._links.get = counted  # type: ignore[method-assign]
    got = reader.read_columns([ks, ks])
    assert len(trips) == 3
    assert got[0]["a"] == list(range(100)) and got[1]["b"] == list(range(100))
    assert (
        store.read_columns([online.ReadRequest("a", ks[::-1], schema_a)])[0]["a"]
        == list(range(100))[::-1]
    )


def test_aggregation_series_equal_the_single_server(
    store: online.RedisClusterOnlineStore, redis_url: str
) -> None:
    hour = 3_600_000_000
    spec = online.SeriesSpec(
        "tx",
        (
            online.AggSpec("v", "count", hour, "n", True),
            online.AggSpec("v", "sum", hour, "s", True),
        ),
        ("v",),
        online.tile_size([hour]),
    )
    ks = keys(*range(40))
    base = 2_000_000_000 * 1_000_000  # 2033: series expire a window after their newest event
    events = pa.table(
        {
            "__key": ks * 2,
            "__ts": pa.array([base] * 40 + [base + 60_000_000] * 40, pa.int64()),
            "v": pa.array(list(range(40)) * 2, pa.int64()),
        }
    )
    at = base + 120_000_000
    asked = [*ks[::-1], *keys(99)]
    single = online.RedisOnlineStore(redis_url, key_prefix=store.key_prefix)
    try:
        answers = []
        for s in (single, store):
            tiles = online.TileStore(s)
            folded = tiles.fold(spec, events)
            replaced = tiles.replace(spec, ks[:10], events.slice(0, 5), "c1")
            answers.append((folded, replaced, tiles.read(spec, asked, at).to_pydict()))
        assert answers[0] == answers[1]
        got = answers[1][2]
        assert got["n"] == [2] * 30 + [0] * 5 + [1] * 5 + [0]
        series = online.TileStore(store)._key("tx", ks[0])
        tagged = f"{store.key_prefix}:tx:".encode() + cluster_key(ks[0])
        assert hash_slot(series) == hash_slot(tagged)
        assert store.delete("tx~tiles", ks) == 35
    finally:
        single.delete_all()
        single.close()


@pytest.mark.slow
def test_a_primary_killed_mid_write_loses_no_acknowledged_write(
    valkey_cluster: Cluster,
) -> None:
    valkey_cluster.wait_healthy()
    prefix = f"f{uuid.uuid4().hex[:12]}"
    store = online.RedisClusterOnlineStore(valkey_cluster.url, key_prefix=prefix)
    batches, size = 30, 2000
    acknowledged: list[int] = []
    failures: list[BaseException] = []
    schema = pa.schema([("v", pa.int64())])

    def materialize() -> None:
        try:
            for b in range(batches):
                ks = keys(*range(b * size, (b + 1) * size))
                result = store.write(
                    "m", ks, pa.table({"v": range(b * size, (b + 1) * size)}), ts(size)
                )
                assert result == online.WriteResult(size, 0)
                acknowledged.append(b)
                time.sleep(0.05)
        except BaseException as e:  # reported below
            failures.append(e)

    victim = valkey_cluster.primary_of(hash_slot(cluster_key(keys(0)[0])))
    writer = threading.Thread(target=materialize)
    try:
        writer.start()
        while len(acknowledged) < 3 and writer.is_alive():
            time.sleep(0.01)
        victim.kill()
        writer.join(120)
        assert not writer.is_alive()
        assert failures == []
        assert acknowledged == list(range(batches))
        assert valkey_cluster.primary_of(hash_slot(cluster_key(keys(0)[0]))) is not victim
        ks = keys(*range(batches * size))
        (got,) = store.read_columns([online.ReadRequest("m", ks, schema)])
        assert got["v"] == list(range(batches * size))
    finally:
        store.close()
        valkey_cluster.restore()
        drop_cluster_prefix(valkey_cluster.url, prefix)


def test_the_config_builds_a_cluster_store(tmp_path: Path, valkey_cluster: Cluster) -> None:
    import featurestore as fs

    prefix = f"g{uuid.uuid4().hex[:12]}"
    (tmp_path / "featurestore.yaml").write_text(
        f"project: {prefix}\nonline_store:\n  type: redis_cluster\n  url: {valkey_cluster.url}\n"
        "  replica_acks: 1\n  failover_timeout_s: 5\n"
    )
    store = fs.FeatureStore.init(tmp_path, exist_ok=True)
    try:
        online_store = store.online_store
        assert isinstance(online_store, online.RedisClusterOnlineStore)
        assert online_store.failover_timeout == 5 and online_store.key_prefix == prefix
        assert online_store.ping()
    finally:
        store.close()
    (tmp_path / "featurestore.yaml").write_text(
        "project: p\nonline_store:\n  type: redis_cluster\n  url: redis://127.0.0.1:1\n"
        "  key_prefix: 'a{b}'\n"
    )
    with pytest.raises(fs.FeatureStoreError, match=r"online_store\.key_prefix.*brace"):
        fs.load_config(tmp_path)
    for setting in ("url: unix:///tmp/x.sock", "url: redis://127.0.0.1:1\n  startup_nodes: [x:1]"):
        (tmp_path / "featurestore.yaml").write_text(
            f"project: p\nonline_store:\n  type: redis_cluster\n  {setting}\n"
        )
        with pytest.raises(fs.ConfigError, match=r"online_store\.(url|startup_nodes).*over TCP"):
            fs.load_config(tmp_path)


@pytest.mark.slow
def test_a_materialization_survives_a_killed_primary_and_equals_offline(
    tmp_path: Path, valkey_cluster: Cluster
) -> None:
    from tests.store_online.conftest import make_store
    from tests.store_online.data import TTL, time_t, to_table
    from tests.store_online.defs import definitions

    valkey_cluster.wait_healthy()
    t = time_t()
    drivers = list(range(1, 3001))
    spec = [
        {
            "driver_id": d,
            "offset": timedelta(seconds=d % 600),
            "created_s": 0,
            "conv_rate": (d % 100) / 100,
            "acc_rate": None if d % 7 == 0 else d / 3000,
            "trips": d * 3,
            "city": f"c{d % 5}",
        }
        for d in drivers
    ]
    store = make_store(tmp_path, valkey_cluster.url)
    try:
        store.apply(definitions(ttl=TTL))
        store.ingest("stats_src", to_table(spec, t))
        commit = store.commit("rows").id
        online_store = store.online_store
        original = online_store.write
        victim = valkey_cluster.primary_of(hash_slot(cluster_key(b"")))
        killed: list[bool] = []

        def write_after_a_crash(*args: object, **kwargs: object) -> online.WriteResult:
            if not killed and args and args[0] == "stats":
                victim.kill()  # the primary dies once the rows are read, before they land
                killed.append(True)
            return original(*args, **kwargs)  # type: ignore[arg-type]

        online_store.write = write_after_a_crash  # type: ignore[method-assign]
        (result,) = store.materialize(None, t)
        assert killed and result.commit_id == commit
        features = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
        entity_df = pa.table(
            {
                "driver_id": drivers,
                "event_ts": pa.array([t] * len(drivers), pa.timestamp("us", tz="UTC")),
            }
        )
        offline = store.get_historical_features(entity_df, features, ref=commit).to_arrow()
        got = store.get_online_features(features, {"driver_id": drivers}, now=t).to_dict()
        for name in ["driver_id", "conv_rate", "acc_rate", "trips", "city"]:
            assert got[name] == offline.column(name).to_pylist()
    finally:
        prefix = store.config.project
        store.close()
        valkey_cluster.restore()
        drop_cluster_prefix(valkey_cluster.url, prefix)
