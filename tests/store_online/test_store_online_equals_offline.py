"""After materializing at T, the online values equal the point-in-time join at T (on one
server and on the cluster)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import drop_prefix
from tests.store_online.conftest import make_store
from tests.store_online.data import TTL, rows, time_t, to_table
from tests.store_online.defs import definitions

FEATURES = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
NAMES = ["conv_rate", "acc_rate", "trips", "city"]


def online_and_offline(
    redis_url: str, spec: list[dict[str, Any]]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    t = time_t()
    drivers = list(range(1, 9))  # 7 and 8 never have rows
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), redis_url, f"p{uuid.uuid4().hex[:12]}")
        try:
            store.apply(definitions(ttl=TTL))
            store.ingest("stats_src", to_table(spec, t))
            commit = store.commit("rows").id
            (result,) = store.materialize(None, t)
            assert result.commit_id == commit
            entity_df = pa.table(
                {
                    "driver_id": drivers,
                    "event_ts": pa.array([t] * len(drivers), pa.timestamp("us", tz="UTC")),
                }
            )
            job = store.get_historical_features(entity_df, FEATURES, ref=commit)
            assert job.commit_id == commit
            offline = job.to_arrow()
            online = store.get_online_features(FEATURES, {"driver_id": drivers}, now=t)
            off = {n: offline.column(n).to_pylist() for n in ["driver_id", *NAMES]}
            on = online.to_dict()
            # every value present online was materialized from this commit
            for name in NAMES:
                found = online.found[name].to_pylist()
                assert online.commits[name].to_pylist() == [commit if f else None for f in found]
            return on, off
        finally:
            prefix = store.config.project
            store.close()
            drop_prefix(redis_url, prefix)


@pytest.mark.parametrize("redis_url", ["single", "cluster"], indirect=True)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=rows())
def test_online_values_equal_point_in_time_join(redis_url: str, spec: list[dict[str, Any]]) -> None:
    on, off = online_and_offline(redis_url, spec)
    assert on == off
