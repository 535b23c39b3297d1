"""Erasure: an entity's rows leave every table at every ref, every saved dataset and every
online namespace; other entities stay value for value; after GC no object on disk holds
them; the audit answers whether and when, without holding the key."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import store_data
import yaml
from store_data import h

import featurestore as fs
from featurestore.datasets import DATASETS_BRANCH
from tests.conftest import drop_prefix

KEY = 1001
driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
driver_source = fs.TableSource(
    name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
)
driver_stats = fs.FeatureView(
    name="driver_stats",
    entities=[driver],
    schema=[fs.Field(name="trips", dtype=fs.Int64), fs.Field(name="rate", dtype=fs.Float64)],
    source=driver_source,
)
customer = fs.Entity(name="customer", join_keys=["customer_id"], value_type=fs.String)
pair_source = fs.TableSource(name="pairs", timestamp_field="event_timestamp")
pair_stats = fs.FeatureView(
    name="pair_stats",
    entities=[driver, customer],
    schema=[fs.Field(name="rides", dtype=fs.Int64)],
    source=pair_source,
)
DEFS = [driver, customer, driver_source, driver_stats, pair_source, pair_stats]
PAIRS = [(1001, "c1", 1), (1001, "c2", 2), (1002, "c1", 3)]
REFS = ["driver_stats:trips", "driver_stats:rate"]


@pytest.fixture
def store(tmp_path: Path, redis_url: str) -> Iterator[fs.FeatureStore]:
    root = tmp_path / "project"
    root.mkdir()
    name = f"e{uuid.uuid4().hex[:12]}"
    (root / "featurestore.yaml").write_text(
        yaml.safe_dump({"project": name, "storage": "data", "online_store": {"url": redis_url}})
    )
    s = fs.FeatureStore.init(root, exist_ok=True)
    try:
        yield s
    finally:
        s.close()
        drop_prefix(redis_url, name)


def _entities(drivers: list[int]) -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_timestamp": pa.array([h(40)] * len(drivers), pa.timestamp("us", tz="UTC")),
        }
    )


def _history(store: fs.FeatureStore) -> None:
    """main: rows, tag v1, more rows; dev: its own rows and staged ones; two saved
    datasets (one holds 1001); both branches materialized."""
    store.apply(DEFS)
    store.commit("definitions")
    rows = store_data.driver_rows()
    store.ingest("driver_stats", rows.iloc[: len(rows) // 2])
    store.ingest(
        "pairs",
        pa.table(
            {
                "driver_id": pa.array([p[0] for p in PAIRS], pa.int64()),
                "customer_id": [p[1] for p in PAIRS],
                "event_timestamp": pa.array([h(1)] * 3, pa.timestamp("us", tz="UTC")),
                "rides": pa.array([p[2] for p in PAIRS], pa.int64()),
            }
        ),
    )
    store.commit("first rows")
    store.repository.tag("v1").create("main")
    store.ingest("driver_stats", rows.iloc[len(rows) // 2 :])
    store.commit("more rows")
    store.repository.branch("dev").create("main")
    later = rows[rows.driver_id.isin([1001, 1003])].assign(created=h(60), trips=7)
    store.ingest("driver_stats", later, branch="dev")
    store.commit("dev rows", branch="dev")
    job = store.get_historical_features(_entities([1001, 1002, 1003]), REFS, ref="v1")
    store.create_saved_dataset(job, "train-a")
    job = store.get_historical_features(_entities([1002, 1003]), REFS)
    store.create_saved_dataset(job, "train-b")
    store.materialize(None, h(100))
    store.materialize(None, h(100), ref="dev")
    store.ingest("driver_stats", later.assign(trips=9), branch="dev")
    store.repository.branch("dev").reset()  # its objects are on disk, named by nothing
    store.ingest("driver_stats", later.assign(trips=8), branch="dev")  # staged, uncommitted


def _refs(store: fs.FeatureStore) -> list[str]:
    repo = store.repository
    return [b.id for b in repo.branches()] + [t.id for t in repo.tags()]


def _tables(store: fs.FeatureStore) -> dict[tuple[str, str], pa.Table]:
    """Every table at every branch (staged rows too) and tag, sorted."""
    out = {}
    for ref in _refs(store):
        for name in store.tables.tables(ref):
            t = store.tables.read(ref, name)
            out[ref, name] = t.sort_by([(c, "ascending") for c in t.column_names])
    return out


def _without(t: pa.Table) -> pa.Table:
    if "driver_id" not in t.column_names:
        return t
    return t.filter(pc.not_equal(t.column("driver_id"), KEY))


def _lookup(store: fs.FeatureStore, driver_id: int, ref: str | None = None) -> tuple[str, object]:
    r = store.get_online_features(["driver_stats:trips"], [{"driver_id": driver_id}], ref=ref)
    return r.statuses("trips")[0], r.to_dict()["trips"][0]


def _pairs(store: fs.FeatureStore) -> list[object]:
    rows = [{"driver_id": d, "customer_id": c} for d, c, _ in PAIRS]
    return list(store.get_online_features(["pair_stats:rides"], rows).to_dict()["rides"])


def test_erase_forgets_the_entity_everywhere(store: fs.FeatureStore, tmp_path: Path) -> None:
    _history(store)
    before = _tables(store)
    assert any(
        pc.any(pc.equal(t.column("driver_id"), KEY)).as_py()
        for t in before.values()
        if "driver_id" in t.column_names
    )
    assert [d.name for d in store.saved_datasets(containing={"driver_id": KEY})] == ["train-a"]
    old_dataset = store.get_saved_dataset("train-a")
    old_rows = old_dataset.to_arrow()
    others_online = {
        (d, ref): _lookup(store, d, ref) for d in (1002, 1003) for ref in (None, "dev")
    }
    assert _lookup(store, KEY)[0] == "PRESENT"
    assert _pairs(store) == [1, 2, 3]
    assert _lookup(store, KEY, "dev")[0] == "PRESENT"
    old_head = store.repository.ref("main").resolve()

    record = store.erase({"driver_id": KEY}, reason="GDPR request 42", by="dpo", collect=True)

    assert record.reason == "GDPR request 42" and record.by == "dpo"
    assert record.entity_keys == ("driver_id",)
    assert record.datasets == ("train-a",)
    assert record.rows_removed > 0 and record.tables["driver_stats"] > 0
    assert old_head in record.commits
    assert record.online_keys_deleted == 6  # main's and dev's: driver_stats, 2 pairs each
    assert record.objects_collected
    assert str(KEY) not in repr(record)

    after = _tables(store)
    assert after.keys() == before.keys()
    for key, table in after.items():
        assert table.equals(_without(before[key])), key  # others unchanged, value for value
    assert store.saved_datasets(containing={"driver_id": KEY}) == []
    assert _lookup(store, KEY) == ("NOT_FOUND", None)
    assert _lookup(store, KEY, "dev") == ("NOT_FOUND", None)
    assert _pairs(store) == [None, None, 3]  # keyed by the driver and a customer
    assert {(d, ref): _lookup(store, d, ref) for d in (1002, 1003) for ref in (None, "dev")} == (
        others_online
    )

    redacted = store.get_saved_dataset("train-a")
    assert redacted.redacted and not store.get_saved_dataset("train-b").redacted
    assert redacted.commit_id == record.commits[old_dataset.commit_id]
    assert store.repository.ref(old_dataset.commit_id).resolve() == redacted.commit_id
    assert redacted.to_arrow().equals(_without(old_rows))
    assert redacted.num_rows == old_dataset.num_rows - 1
    # a model's training set rebuilds from the old commit id, without the entity
    rebuilt = store.get_historical_features(
        _entities([1001, 1002, 1003]), REFS, ref=old_dataset.commit_id
    ).to_arrow()
    assert rebuilt.column("trips")[0].as_py() is None

    states = {s.view: s for s in store.online_status()}
    assert states["driver_stats"].commit_id not in record.commits
    again = {r.view: r for r in store.materialize_incremental(h(100))}
    assert not again["driver_stats"].full  # the records name the parts that replaced theirs
    assert _lookup(store, KEY) == ("NOT_FOUND", None)
    assert {(d, None): _lookup(store, d) for d in (1002, 1003)} == {
        k: v for k, v in others_online.items() if k[1] is None
    }

    (audit,) = store.erasures({"driver_id": KEY})
    assert audit.id == record.id and audit.erased_at == record.erased_at
    assert audit.commits == record.commits
    assert store.erasures({"driver_id": 1002}) == []
    assert [r.id for r in store.erasures()] == [record.id]

    _no_object_holds(Path(store.config.storage_location))


def _no_object_holds(storage: Path) -> None:
    """Every Parquet object on disk lacks the key; no JSON object names it."""
    parquet = 0
    for path in (storage / "objects").rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:4] == b"PAR1":
            parquet += 1
            t = pq.read_table(path)
            if "driver_id" in t.column_names:
                assert not pc.any(pc.equal(t.column("driver_id"), KEY)).as_py(), path
            continue
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        assert not _names_key(doc), path
    assert parquet


def _names_key(doc: object) -> bool:
    """Whether a JSON document has a field whose value is the key (as a number or text);
    tree objects are lists of paths, checksums and sizes, which hold no rows."""
    if isinstance(doc, dict):
        return any(v in (KEY, str(KEY)) or _names_key(v) for v in doc.values())
    if isinstance(doc, list):
        return any(_names_key(v) for v in doc if isinstance(v, dict | list))
    return False


def test_erase_again_changes_nothing_and_is_audited(store: fs.FeatureStore) -> None:
    _history(store)
    first = store.erase({"driver_id": KEY}, reason="request")
    head = store.repository.ref("main").resolve()
    second = store.erase({"driver_id": KEY}, reason="request, again")
    assert second.commits == {} and second.rows_removed == 0
    assert store.repository.ref("main").resolve() == head
    assert [r.id for r in store.erasures({"driver_id": KEY})] == [first.id, second.id]


def test_erase_refuses_bad_input_and_leaves_nothing(store: fs.FeatureStore) -> None:
    _history(store)
    head = store.repository.ref("main").resolve()
    with pytest.raises(fs.ValidationError, match="join key"):
        store.erase({"drivr_id": KEY}, reason="typo")
    with pytest.raises(fs.ValidationError, match="reason"):
        store.erase({"driver_id": KEY}, reason=" ")
    with pytest.raises(fs.ValidationError, match="join keys and values"):
        store.erase({}, reason="x")
    for bad in ([KEY], "abc", 1.5, True):
        with pytest.raises(fs.ValidationError, match="'driver_id' of type Int64"):
            store.erase({"driver_id": bad}, reason="x")
    with pytest.raises(fs.ValidationError, match="'driver_id' has a null value; give"):
        store.erase({"driver_id": None}, reason="x")
    with pytest.raises(fs.ValidationError, match="'customer_id' of type String"):
        store.erase({"customer_id": 7}, reason="x")
    with pytest.raises(fs.ValidationError, match="'foo' is not a join key"):
        store.erasures({"foo": 1})
    assert store.repository.ref("main").resolve() == head
    assert store.erasures() == []


def test_a_key_given_as_text_is_read_as_its_type(store: fs.FeatureStore) -> None:
    """``"1001"`` for an Int64 key is 1001, as lookups read it: the rows, the online
    values and the audit agree, whichever form the question takes."""
    _history(store)
    record = store.erase({"driver_id": str(KEY)}, reason="text key")
    assert record.rows_removed > 0 and record.online_keys_deleted
    for ref in ("main", "dev"):
        got = store.get_online_features(REFS, {"driver_id": [KEY]}, ref=ref)
        assert got.statuses("trips") == ["NOT_FOUND"]
    assert [r.id for r in store.erasures({"driver_id": KEY})] == [record.id]
    assert [r.id for r in store.erasures({"driver_id": f" {KEY}"})] == [record.id]
    (kept,) = store.erasures()
    assert kept.online_keys_deleted == record.online_keys_deleted
    (note,) = kept.notes
    assert note.startswith("external online store: ") and " rewritten; " in note
    assert "replicas and backups are the operator's" in note


def test_saved_dataset_after_erase_keeps_its_name(store: fs.FeatureStore) -> None:
    _history(store)
    store.erase({"driver_id": KEY}, reason="r")
    meta = json.loads(
        store.repository.ref(DATASETS_BRANCH).object("datasets/train-a/meta.json").read()
    )
    assert meta["redacted"] is True and meta["erasures"] and meta["original_num_rows"] == 3
    assert meta["num_rows"] == 2
    assert datetime.fromisoformat(meta["created"]) > h(0) - timedelta(days=1)


def test_parts_left_with_equal_rows_stay_two(store: fs.FeatureStore) -> None:
    """Two parts that differ only in the erased entity's rows keep both copies of the rest."""
    store.apply(DEFS)
    store.commit("definitions")
    row = {"driver_id": 1002, "event_timestamp": h(1), "created": h(1), "trips": 1, "rate": 0.5}
    for trips in (10, 20):
        mine = {**row, "driver_id": KEY, "trips": trips}
        store.ingest("driver_stats", pa.Table.from_pylist([row, mine]))
        store.commit(f"rows {trips}")
    store.erase({"driver_id": KEY}, reason="r", collect=True)
    kept = store.tables.read("main", "driver_stats")
    assert kept.column("driver_id").to_pylist() == [1002, 1002]


def _files_with(root: Path, needle: bytes) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes())


def test_the_embedded_servers_files_keep_no_erased_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an erasure, the entity's online key is in no file under the storage folder:
    the embedded server's append-only file and snapshot were rewritten."""
    import online

    monkeypatch.delenv("REDIS_URL", raising=False)
    store = fs.FeatureStore.init(tmp_path / "project", project="embedded")
    storage = Path(store.config.storage_location)
    needle = online.encode_entity_key(["driver_id"], [KEY])
    try:
        _history(store)
        assert store.online_store.rewrite_persistence() == ("aof", "rdb")
        assert _files_with(storage / "online", needle)  # the writes are on disk
        record = store.erase({"driver_id": KEY}, reason="GDPR", collect=True)
        assert record.online_keys_deleted
        assert record.notes == ("embedded online server: append-only file and snapshot rewritten",)
        assert store.erasures()[0].notes == record.notes
        assert _lookup(store, 1002)[0] == "PRESENT"
    finally:
        store.close()
    assert _files_with(storage, needle) == []
