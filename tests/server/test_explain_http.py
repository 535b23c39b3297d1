"""GET /explain/{id} over real HTTP: a logged lookup's request id, then its explanation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

import featurestore as fs
from featurestore.config import ApiKey
from featurestore.server import create_app
from featurestore.serving_log import SERVING_LOG_BRANCH
from tests.conftest import drop_prefix
from tests.store_online.conftest import make_store
from tests.store_online.data import TS, US
from tests.store_online.defs import definitions

READER = "reader-key-0001"


def _rows(now: datetime) -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array([1, 2], pa.int64()),
            "event_ts": pa.array([now - 60 * US] * 2, TS),
            "created": pa.array([now - 60 * US] * 2, TS),
            "conv_rate": pa.array([0.5, 0.25], pa.float32()),
            "acc_rate": pa.array([0.25, 0.125], pa.float64()),
            "trips": pa.array([5, 7], pa.int64()),
            "city": pa.array(["a", "b"], pa.string()),
        }
    )


@pytest.fixture
def logged(tmp_path: Path, redis_url: str) -> Iterator[tuple[fs.FeatureStore, str]]:
    """A store whose service ``scoring`` logs every lookup, materialized; and its commit."""
    store = make_store(tmp_path / "repo", redis_url)
    objects = definitions(ttl=timedelta(hours=1))
    stats = next(o for o in objects if isinstance(o, fs.FeatureView))
    service = fs.FeatureService(
        name="scoring",
        features=[stats[["conv_rate", "trips"]]],
        logging_config=fs.LoggingConfig(sample_rate=1.0),
    )
    store.apply([*objects, service])
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest("stats_src", _rows(now))
    commit = store.commit("rows").id
    store.materialize(None, now + timedelta(seconds=1))
    config = store.config.model_copy(
        update={
            "server": store.config.server.model_copy(
                update={"api_keys": (ApiKey(key=READER, role="reader"),)}
            )
        }
    )
    store.close()
    served = fs.FeatureStore(config=config)
    try:
        yield served, commit
    finally:
        served.close()
        drop_prefix(redis_url, config.project)


def test_lookup_returns_a_request_id_that_explain_answers(
    logged: tuple[fs.FeatureStore, str], serve_app: Callable[..., object]
) -> None:
    store, commit = logged
    auth = {"Authorization": f"Bearer {READER}"}
    with serve_app(create_app(store)) as url, httpx.Client(base_url=url, headers=auth) as http:  # type: ignore[attr-defined]
        answer = http.post(
            "/get-online-features",
            json={"feature_service": "scoring", "entities": {"driver_id": [1, 3]}},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        request_id = body["metadata"]["request_id"]
        assert answer.headers["x-request-id"] == request_id and len(request_id) == 32
        assert body["metadata"]["feature_names"] == ["driver_id", "conv_rate", "trips"]
        assert body["results"][2]["values"] == [5, None]
        # plain feature lists are not logged: no id
        plain = http.post(
            "/get-online-features",
            json={"features": ["stats:trips"], "entities": {"driver_id": [1]}},
        )
        assert "request_id" not in plain.json()["metadata"] and "x-request-id" not in plain.headers
        arrow = http.post(
            "/get-online-features",
            json={"feature_service": "scoring", "entities": {"driver_id": [2]}},
            headers={"Accept": "application/vnd.apache.arrow.stream"},
        )
        assert len(arrow.headers["x-request-id"]) == 32

        explained = http.get(f"/explain/{request_id}")
        assert explained.status_code == 200, explained.text
        got = explained.json()
        assert got["request_id"] == request_id and got["feature_service"] == "scoring"
        assert got["commits"] == [commit] and got["skew"] is False
        trips = [v for v in got["values"] if v["feature"] == "trips"]
        assert [(v["served"], v["recomputed"], v["matches"]) for v in trips] == [
            (5, 5, True),
            (None, None, True),
        ]
        assert trips[0]["commit_id"] == commit and trips[0]["entity"] == {"driver_id": 1}

        assert http.get(f"/explain/{'0' * 32}").status_code == 404
        assert http.get("/explain/not-an-id").status_code == 422
        assert httpx.get(f"{url}/explain/{request_id}").status_code == 401
        last = http.post(
            "/get-online-features",
            json={"feature_service": "scoring", "entities": {"driver_id": [2]}},
        )
        assert store.serving_log.queued_rows == 2
        metrics = http.get("/metrics").text
        assert "featurestore_serving_log_queued_rows 2.0" in metrics
        assert "featurestore_serving_log_dropped_lookups 0.0" in metrics
    # the server's shutdown committed the lookup it still held
    ids = store.sql("SELECT DISTINCT request_id FROM serving_log__scoring", ref=SERVING_LOG_BRANCH)
    assert ids.num_rows == 3 and last.headers["x-request-id"] in ids.column(0).to_pylist()
    assert not list(store.repository.branch(SERVING_LOG_BRANCH).uncommitted())
