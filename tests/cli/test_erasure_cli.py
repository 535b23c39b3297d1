"""``featurestore erase`` and ``featurestore erasures`` as the real console entry point;
the serving log loses the erased entity's rows too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from featurestore import FeatureStore
from tests.cli.conftest import ENTRY, Run
from tests.cli.test_explain_lineage_cli import _served


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
