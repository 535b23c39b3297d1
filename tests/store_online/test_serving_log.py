"""The serving log: sampled lookups through a logged service, queued, committed, queryable."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import featurestore as fs
from featurestore.config import ServingLogConfig
from featurestore.serving_log import LOOKUP_COST_ROWS, SERVING_LOG_BRANCH, _record_table
from tests.store_online.data import TS, US
from tests.store_online.defs import definitions

HOUR = timedelta(hours=1)


def rows(drivers: list[int], events: list[datetime], conv: list[float]) -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_ts": pa.array(events, TS),
            "created": pa.array(events, TS),
            "conv_rate": pa.array(conv, pa.float32()),
            "acc_rate": pa.array([c / 2 for c in conv], pa.float64()),
            "trips": pa.array([d * 10 for d in drivers], pa.int64()),
            "city": pa.array([f"c{d}" for d in drivers], pa.string()),
        }
    )


def service(rate: float, name: str = "scoring") -> fs.FeatureService:
    stats = next(o for o in definitions() if isinstance(o, fs.FeatureView))
    return fs.FeatureService(
        name=name,
        features=[stats[["conv_rate", "trips", "city"]]],
        logging_config=fs.LoggingConfig(fs.RepositoryLoggingDestination(), sample_rate=rate),
    )


def served_store(
    new_store: Callable[..., fs.FeatureStore], *services: fs.FeatureService
) -> tuple[fs.FeatureStore, datetime, str]:
    store = new_store()
    store.apply([*definitions(ttl=HOUR), *services])
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest("stats_src", rows([1, 2], [now - 60 * US, now - 30 * US], [0.5, 0.25]))
    commit = store.commit("rows").id
    store.materialize(None, now)
    return store, now, commit


def test_every_lookup_is_logged_at_rate_one(new_store: Callable[..., fs.FeatureStore]) -> None:
    store, now, commit = served_store(new_store, service(1.0))
    svc = store.get_feature_service("scoring")
    first = store.get_online_features(svc, [{"driver_id": 1}, {"driver_id": 3}], now=now)
    second = store.get_online_features(svc, [{"driver_id": 2}], now=now)
    assert first.request_id and second.request_id and first.request_id != second.request_id
    assert len(first.request_id) == 32 and int(first.request_id, 16) >= 0
    assert store.serving_log.flush() == 3 * 2 + 3 * 1
    log = store.sql(
        "SELECT request_id, row, driver_id, feature, feature_ref, value, status, "
        "event_timestamp, commit_id, requested_at FROM serving_log__scoring "
        f"WHERE request_id = '{first.request_id}' ORDER BY row, feature",
        ref=SERVING_LOG_BRANCH,
    ).to_pylist()
    assert [(r["row"], r["driver_id"], r["feature"], r["value"], r["status"]) for r in log] == [
        (0, 1, "city", '"c1"', "PRESENT"),
        (0, 1, "conv_rate", "0.5", "PRESENT"),
        (0, 1, "trips", "10", "PRESENT"),
        (1, 3, "city", None, "NOT_FOUND"),
        (1, 3, "conv_rate", None, "NOT_FOUND"),
        (1, 3, "trips", None, "NOT_FOUND"),
    ]
    assert {r["commit_id"] for r in log if r["row"] == 0} == {commit}
    assert {r["event_timestamp"] for r in log if r["row"] == 0} == {now - 60 * US}
    assert {r["requested_at"] for r in log} == {now}
    assert {r["feature_ref"] for r in log} == {"stats:conv_rate", "stats:trips", "stats:city"}
    # values are JSON text that SQL casts; the join key is a typed column
    total = store.sql(
        "SELECT sum(value::DOUBLE) AS s FROM serving_log__scoring WHERE feature = 'trips'",
        ref=SERVING_LOG_BRANCH,
    )
    assert total.column("s").to_pylist() == [30.0]
    # the log is committed on its own branch: main's head did not move, and the branch
    # is hidden from users and refused for their writes
    assert store.resolve() == commit
    head = store.repository.ref(SERVING_LOG_BRANCH).get_commit()
    assert head.message.startswith("serving log: 9 rows")
    assert not list(store.repository.branch(SERVING_LOG_BRANCH).uncommitted())
    assert SERVING_LOG_BRANCH not in [b.id for b in store.branches()]
    assert store.tables.tables(SERVING_LOG_BRANCH) == ["serving_log__scoring"]
    with pytest.raises(fs.RefusedError, match="serving log"):
        store.commit("mine", branch=SERVING_LOG_BRANCH, allow_empty=True)
    with pytest.raises(fs.RefusedError, match="serving log"):
        store.delete_branch(SERVING_LOG_BRANCH)


def test_rate_zero_and_plain_features_log_nothing(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store, now, _ = served_store(new_store, service(0.0))
    svc = store.get_feature_service("scoring")
    assert store.get_online_features(svc, [{"driver_id": 1}], now=now).request_id is None
    refs = ["stats:conv_rate"]
    assert store.get_online_features(refs, [{"driver_id": 1}], now=now).request_id is None
    assert store.serving_log.flush() == 0
    assert SERVING_LOG_BRANCH not in [b.id for b in store.repository.branches()]


def test_a_full_queue_drops_lookups_and_never_blocks(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store = new_store()
    config = store.config.model_copy(
        update={
            "serving_log": ServingLogConfig(
                max_queue_rows=3 + LOOKUP_COST_ROWS + 5, flush_rows=1000, flush_interval_s=3600
            )
        }
    )
    store.close()
    store = fs.FeatureStore(config=config)
    try:
        store.apply([*definitions(ttl=HOUR), service(1.0)])
        now = datetime.now(UTC).replace(microsecond=0)
        store.ingest("stats_src", rows([1], [now - US], [0.5]))
        store.commit("rows")
        store.materialize(None, now)
        svc = store.get_feature_service("scoring")
        ids = [
            store.get_online_features(svc, [{"driver_id": 1}], now=now).request_id for _ in range(4)
        ]
        # a lookup of 3 rows costs 3 + LOOKUP_COST_ROWS: the first fits, the others are dropped
        assert ids[0] is not None and ids[1:] == [None, None, None]
        assert store.serving_log.dropped == 3
        assert store.serving_log.queued_rows == 3
        assert store.serving_log.flush() == 3
        assert store.get_online_features(svc, [{"driver_id": 1}], now=now).request_id
    finally:
        store.close()


def test_close_flushes_the_queue(new_store: Callable[..., fs.FeatureStore]) -> None:
    store, now, _ = served_store(new_store, service(1.0))
    svc = store.get_feature_service("scoring")
    rid = store.get_online_features(svc, {"driver_id": [1, 2]}, now=now).request_id
    store.close()
    reopened = fs.FeatureStore(config=store.config)
    try:
        count = reopened.sql(
            f"SELECT count(*) AS n FROM serving_log__scoring WHERE request_id = '{rid}'",
            ref=SERVING_LOG_BRANCH,
        )
        assert count.column("n").to_pylist() == [6]
    finally:
        reopened.close()


def test_the_background_thread_flushes_by_rows(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store = new_store()
    config = store.config.model_copy(
        update={"serving_log": ServingLogConfig(flush_rows=3, flush_interval_s=3600)}
    )
    store.close()
    store = fs.FeatureStore(config=config)
    try:
        store.apply([*definitions(ttl=HOUR), service(1.0)])
        now = datetime.now(UTC).replace(microsecond=0)
        store.ingest("stats_src", rows([1], [now - US], [0.5]))
        store.commit("rows")
        store.materialize(None, now)
        svc = store.get_feature_service("scoring")
        rid = store.get_online_features(svc, [{"driver_id": 1}], now=now).request_id
        assert rid is not None
        log = store.serving_log
        thread = log._thread
        assert thread is not None
        for _ in range(2000):  # the thread commits without any flush() or close()
            if log.written_rows == 3 and not log.queued_rows:
                break
            thread.join(0.01)
        assert log.written_rows == 3
        found = store.sql(
            f"SELECT count(*) AS n FROM serving_log__scoring WHERE request_id = '{rid}'",
            ref=SERVING_LOG_BRANCH,
        )
        assert found.column("n").to_pylist() == [3]
    finally:
        store.close()


def test_feast_file_destination_logs_to_the_repository(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    stats = next(o for o in definitions() if isinstance(o, fs.FeatureView))
    feast_style = fs.FeatureService(
        name="feast_style",
        features=[stats],
        logging_config=fs.LoggingConfig(
            destination=fs.FileLoggingDestination(path="logs"), sample_rate=1.0
        ),
    )
    store, now, _ = served_store(new_store, feast_style)
    svc = store.get_feature_service("feast_style")
    assert isinstance(svc.logging_config, fs.LoggingConfig)
    assert isinstance(svc.logging_config.destination, fs.FileLoggingDestination)
    assert store.get_online_features(svc, [{"driver_id": 2}], now=now).request_id
    assert store.serving_log.flush() == 4
    assert store.tables.tables(SERVING_LOG_BRANCH) == ["serving_log__feast_style"]
    # the repository destination round-trips through the registry too
    store.apply([service(0.5)])
    store.commit("logged service")
    config = store.get_feature_service("scoring").logging_config
    assert config is not None and config.sample_rate == 0.5
    assert isinstance(config.destination, fs.RepositoryLoggingDestination)


def test_request_ids_sort_by_time_and_compaction_keeps_every_row(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store, now, _ = served_store(new_store, service(1.0))
    svc = store.get_feature_service("scoring")
    ids = []
    for driver in (1, 2, 3):
        rid = store.get_online_features(svc, [{"driver_id": driver}], now=now).request_id
        assert rid is not None and uuid.UUID(hex=rid).version == 7
        ids.append(rid)
        store.serving_log.flush()
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)  # milliseconds first
    parts = [
        o.path
        for o in store.repository.ref(SERVING_LOG_BRANCH).objects("tables/serving_log__scoring/")
        if o.path.endswith(".parquet")
    ]
    assert len(parts) == 3
    before = store.sql(
        "SELECT * FROM serving_log__scoring ORDER BY request_id, feature", ref=SERVING_LOG_BRANCH
    )
    assert store.serving_log.compact() == ["serving_log__scoring"]
    after = store.sql(
        "SELECT * FROM serving_log__scoring ORDER BY request_id, feature", ref=SERVING_LOG_BRANCH
    )
    assert after.equals(before) and after.num_rows == 9
    parts = [
        o.path
        for o in store.repository.ref(SERVING_LOG_BRANCH).objects("tables/serving_log__scoring/")
        if o.path.endswith(".parquet")
    ]
    assert len(parts) == 1
    assert store.serving_log.compact() == []  # nothing small left to merge
    assert store.explain(ids[1]).values[0].entity == {"driver_id": 2}


def test_two_stores_share_the_log_and_a_staged_batch_is_committed_by_the_next_flush(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    first, now, _ = served_store(new_store, service(1.0))
    second = fs.FeatureStore(config=first.config)
    try:
        svc = first.get_feature_service("scoring")
        a = first.get_online_features(svc, [{"driver_id": 1}], now=now).request_id
        b = second.get_online_features(svc, [{"driver_id": 2}], now=now).request_id
        assert first.serving_log.flush() == 3 and second.serving_log.flush() == 3
        # what a flush killed between staging and committing leaves: a whole staged batch
        c = second.get_online_features(svc, [{"driver_id": 1}], now=now).request_id
        log = second.serving_log
        records = log._take()
        branch = second.repository.branch(SERVING_LOG_BRANCH)
        second.tables.write(branch, "serving_log__scoring", _record_table(records))
        assert list(branch.uncommitted())
        d = first.get_online_features(svc, [{"driver_id": 2}], now=now).request_id
        assert first.serving_log.flush() == 3  # its commit takes the staged batch too
        assert not list(branch.uncommitted())
        ids = first.sql(
            "SELECT request_id, count(*) AS n FROM serving_log__scoring GROUP BY request_id",
            ref=SERVING_LOG_BRANCH,
        ).to_pylist()
        assert sorted((r["request_id"], r["n"]) for r in ids) == sorted(
            (i, 3) for i in (a, b, c, d)
        )
        assert second.explain(str(a)).values[0].entity == {"driver_id": 1}
    finally:
        second.close()


_CHILD = """
import sys, time
from datetime import datetime
import featurestore as fs
store = fs.FeatureStore(sys.argv[1])
svc = store.get_feature_service("scoring")
now = datetime.fromisoformat(sys.argv[2])
print(store.get_online_features(svc, [{"driver_id": 1}], now=now).request_id, flush=True)
store.serving_log.flush()
print(store.get_online_features(svc, [{"driver_id": 2}], now=now).request_id, flush=True)
print("ready", flush=True)
time.sleep(120)
"""


def test_sigkill_loses_only_the_queued_lookups(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store, now, _ = served_store(new_store, service(1.0))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(store.config.project_dir), now.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        flushed, queued, ready = (child.stdout.readline().strip() for _ in range(3))
        assert ready == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert store.explain(flushed).values[0].entity == {"driver_id": 1}
    with pytest.raises(fs.NotFoundError):
        store.explain(queued)  # it was still in the killed process's queue
    assert not list(store.repository.branch(SERVING_LOG_BRANCH).uncommitted())


def test_logging_turned_off_in_the_settings(new_store: Callable[..., fs.FeatureStore]) -> None:
    store, now, _ = served_store(new_store, service(1.0))
    off = fs.FeatureStore(
        config=store.config.model_copy(update={"serving_log": ServingLogConfig(enabled=False)})
    )
    try:
        svc = off.get_feature_service("scoring")
        assert off.get_online_features(svc, [{"driver_id": 1}], now=now).request_id is None
        assert off.serving_log.queued_rows == 0
    finally:
        off.close()


def _logged(store: fs.FeatureStore, driver: int) -> int:
    got = store.sql(
        f"SELECT count(*) AS n FROM serving_log__scoring WHERE driver_id = {driver}",
        ref=SERVING_LOG_BRANCH,
    )
    return int(got.column("n")[0].as_py())


def _files_holding(root: Path, driver: int) -> list[Path]:
    """The Parquet files under ``root`` with a ``driver_id`` column that holds ``driver``."""
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError):
            continue
        if "driver_id" in table.column_names and driver in table.column("driver_id").to_pylist():
            out.append(path)
    return out


def test_another_stores_queue_does_not_bring_erased_rows_back(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    """A server's queued lookups of an entity that another process erases meanwhile are
    dropped at its flush: no log row and no object on disk holds the entity again."""
    server, now, _ = served_store(new_store, service(1.0))
    svc = server.get_feature_service("scoring")
    server.get_online_features(svc, [{"driver_id": 1}, {"driver_id": 2}], now=now)
    assert server.serving_log.flush() == 6
    mixed = server.get_online_features(svc, [{"driver_id": 1}, {"driver_id": 2}], now=now)
    alone = server.get_online_features(svc, [{"driver_id": 1}], now=now)
    cli = fs.FeatureStore(config=server.config)
    try:
        cli.erase({"driver_id": 1}, reason="GDPR", collect=True)
    finally:
        cli.close()
    after = server.get_online_features(svc, [{"driver_id": 1}], now=now)
    assert after.statuses("conv_rate") == ["NOT_FOUND"]
    assert server.serving_log.flush() == 3 + 3  # driver 2's queued rows, and the new lookup
    assert _logged(server, 2) == 6
    assert _logged(server, 1) == 3  # only the lookup after the erasure
    (row, *_) = server.explain(str(after.request_id)).values
    assert row.entity == {"driver_id": 1} and row.served is None
    explained = server.explain(str(mixed.request_id))
    assert explained.erased_rows == (0,) and {v.row for v in explained.values} == {1}
    assert "row(s) 0 not shown" in repr(explained)
    with pytest.raises(fs.NotFoundError, match="removed every row it served"):
        server.explain(str(alone.request_id))
    server.repository.gc(orphans_after=timedelta(0))
    for path in _files_holding(Path(server.config.storage_location), 1):
        held = pq.read_table(path).filter(pc.equal(pc.field("driver_id"), 1))
        assert set(held.column("request_id").to_pylist()) == {after.request_id}, path


def test_a_batch_staged_across_an_erasure_is_scrubbed_by_the_next_flush(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    """Rows a flush staged after an erasure landed (filtered before it, then killed
    before committing) lose the erased entity when the next flush commits them."""
    first, now, _ = served_store(new_store, service(1.0))
    second = fs.FeatureStore(config=first.config)
    try:
        svc = first.get_feature_service("scoring")
        first.get_online_features(svc, [{"driver_id": 2}], now=now)
        assert first.serving_log.flush() == 3
        second.get_online_features(svc, [{"driver_id": 1}, {"driver_id": 2}], now=now)
        records = second.serving_log._take()
        table = _record_table(records)
        first.erase({"driver_id": 1}, reason="GDPR")
        branch = second.repository.branch(SERVING_LOG_BRANCH)
        second.tables.write(branch, "serving_log__scoring", table)
        first.get_online_features(svc, [{"driver_id": 2}], now=now)
        assert first.serving_log.flush() == 3
        assert not list(branch.uncommitted())
        assert _logged(first, 1) == 0 and _logged(first, 2) == 9
    finally:
        second.close()


_SERVER = """
import sys
from datetime import datetime
import featurestore as fs
store = fs.FeatureStore(sys.argv[1])
svc = store.get_feature_service("scoring")
now = datetime.fromisoformat(sys.argv[2])
store.get_online_features(svc, [{"driver_id": 1}, {"driver_id": 2}], now=now)
print("queued", flush=True)
sys.stdin.readline()
store.close()
print("closed", flush=True)
"""


def test_a_server_process_flushing_after_an_erasure_logs_none_of_it(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store, now, _ = served_store(new_store, service(1.0))
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(store.config.project_dir), now.isoformat()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdin is not None and server.stdout is not None
        assert server.stdout.readline().strip() == "queued"
        store.erase({"driver_id": 1}, reason="GDPR", collect=True)
        server.stdin.write("\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "closed"
    finally:
        server.kill()
        server.wait(30)
    assert _logged(store, 1) == 0 and _logged(store, 2) == 3
    store.repository.gc(orphans_after=timedelta(0))
    assert _files_holding(Path(store.config.storage_location), 1) == []
