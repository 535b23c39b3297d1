"""``featurestore erase`` and ``featurestore erasures`` as the real console entry point;
the serving log loses the erased entity's rows too."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from tests.cli.conftest import ENTRY, Run
from tests.cli.test_explain_lineage_cli import NOW, _served


def _count(store: FeatureStore, driver_id: int) -> int:
    out = store.sql(
        f"SELECT count(*) AS n FROM serving_log__logged WHERE driver_id = {driver_id}",
        ref="serving-log",
    )
    return int(out.column("n")[0].as_py())


@pytest.mark.slow
def test_erase_asks_first_then_forgets_and_audits(fs: Run, store: FeatureStore) -> None:
    _served(store)
    rows = [{"driver_id": 1001, "val_to_add": 5}, {"driver_id": 1002, "val_to_add": 1}]
    store.get_online_features(store.get_feature_service("logged"), rows)
    store.serving_log.flush()
    assert _count(store, 1001) > 0
    kept = _count(store, 1002)

    asked = subprocess.run(
        [sys.executable, "-c", ENTRY, "erase", "driver_id=1001", "--reason", "GDPR 42"],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=fs.project,
        env=fs.env,
    )
    assert asked.returncode == 1 and "nothing erased" in asked.stderr
    assert fs("erasures").stdout.strip() == "No erasures"

    done = json.loads(
        fs("erase", "driver_id=1001", "--reason", "GDPR 42", "--yes", "--json").stdout
    )
    assert done["reason"] == "GDPR 42" and done["by"] == "cli-test"
    assert done["rows_removed"] > 0 and done["commits"] and done["objects_collected"] > 0
    assert _count(store, 1001) == 0 and _count(store, 1002) == kept
    response = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}])
    assert response.statuses("conv_rate") == ["NOT_FOUND"]

    (audit,) = json.loads(fs("erasures", "driver_id=1001", "--json").stdout)
    assert audit["id"] == done["id"] and audit["commits"] == done["commits"]
    assert json.loads(fs("erasures", "driver_id=1002", "--json").stdout) == []
    table = fs("erasures").stdout
    assert "GDPR 42" in table and done["id"][:12] in table and "1001" not in table
    again = fs("erase", "driver_id=1001", "--reason", "GDPR 42, again", "--yes").stdout
    assert "No rows of driver_id=1001 were left" in again
    assert len(json.loads(fs("erasures", "driver_id=1001", "--json").stdout)) == 2


def test_erase_refuses_bad_arguments_in_the_clis_words(fs: Run, store: FeatureStore) -> None:
    _served(store)
    for args, said in [
        (("erase", "driver_id", "--reason", "r", "--yes"), "give the entity as KEY=VALUE"),
        (("erase", "driver_id=1003", "--reason", "", "--yes"), "--reason: say why"),
        (("erase", "driver_id=abc", "--reason", "r", "--yes"), "'driver_id' of type Int64"),
        (("erase", "foo=1", "--reason", "r", "--yes"), "'foo' is not a join key"),
        (("erasures", "foo=1"), "'foo' is not a join key"),
        (("erasures", "driver_id"), "give the entity as KEY=VALUE"),
        (("lineage", "nope"), "`featurestore list datasets`"),
    ]:
        err = fs(*args, code=1).stderr
        assert said in err and "bug" not in err and "--entity" not in err, (args, err)
        assert "reason=" not in err and "saved_datasets()" not in err, (args, err)
    assert fs("erasures").stdout.strip() == "No erasures"


@pytest.mark.slow
def test_redaction_shows_in_lineage_datasets_and_explain(fs: Run, store: FeatureStore) -> None:
    commit = _served(store)
    entities = pa.table(
        {
            "driver_id": pa.array([1001, 1002], pa.int64()),
            "event_timestamp": pa.array([NOW, NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    job = store.get_historical_features(entities, ["driver_hourly_stats:conv_rate"], ref=commit)
    store.create_saved_dataset(job, "train-e")
    rows = [{"driver_id": 1001, "val_to_add": 5}, {"driver_id": 1002, "val_to_add": 1}]
    request = store.get_online_features(store.get_feature_service("logged"), rows).request_id
    store.serving_log.flush()
    assert json.loads(fs("lineage", "train-e", "--json").stdout)["redacted"] is False

    done = json.loads(fs("erase", "driver_id=1001", "--reason", "r", "--yes", "--json").stdout)
    assert done["online_keys_deleted"] > 0 and done["notes"]
    (audit,) = json.loads(fs("erasures", "--json").stdout)
    assert audit["online_keys_deleted"] == done["online_keys_deleted"]
    assert audit["notes"] == done["notes"]
    lineage = json.loads(fs("lineage", "train-e", "--json").stdout)
    assert lineage["redacted"] is True and lineage["erasures"] == [done["id"]]
    assert lineage["commit"]["id"] == done["commits"][commit]
    assert f"yes, by erasure {done['id']}" in fs("lineage", "train-e").stdout
    (listed,) = json.loads(fs("list", "datasets", "--json").stdout)
    assert listed["redacted"] is True and listed["num_rows"] == 1
    explained = json.loads(fs("explain", str(request), "--json").stdout)
    assert explained["erased_rows"] == [0] and explained["erasures"] == [done["id"]]
    assert {v["row"] for v in explained["values"]} == {1}
    assert {v["recomputed_at"] for v in explained["values"]} == {done["commits"][commit]}
    shown = fs("explain", str(request)).stdout
    assert "row(s) 0 not shown: their entity was erased after this lookup" in shown
