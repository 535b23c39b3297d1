"""POST /get-online-features over HTTP: Feast's shapes, Arrow, and errors."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

from tests.server.conftest import Served

FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]


def _latest(data: pa.Table, driver: int) -> dict[str, object]:
    rows = data.filter(pc.field("driver_id") == driver).sort_by(
        [("event_timestamp", "descending"), ("created", "descending")]
    )
    return rows.slice(0, 1).to_pylist()[0]


def test_lookup_answers_in_feasts_shape(served: Served, data: pa.Table) -> None:
    with served.client() as http:
        r = http.post(
            "/get-online-features",
            json={"features": FEATURES, "entities": {"driver_id": [1001, 1002, 99999]}},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metadata"]["feature_names"] == [
        "driver_id",
        "conv_rate",
        "acc_rate",
        "avg_daily_trips",
    ]
    keys, conv, acc, trips = body["results"]
    assert keys["values"] == [1001, 1002, 99999]
    assert keys["statuses"] == ["PRESENT"] * 3
    for i, driver in enumerate([1001, 1002]):
        row = _latest(data, driver)
        assert math.isclose(conv["values"][i], row["conv_rate"], rel_tol=1e-6)
        assert math.isclose(acc["values"][i], row["acc_rate"], rel_tol=1e-6)
        assert trips["values"][i] == row["avg_daily_trips"]
        assert conv["statuses"][i] == "PRESENT"
        assert conv["event_timestamps"][i] == row["event_timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert conv["values"][2] is None and trips["values"][2] is None
    assert conv["statuses"][2] == "NOT_FOUND"


def test_feature_service_with_request_data(served: Served, data: pa.Table) -> None:
    row = _latest(data, 1003)
    with served.client() as http:
        in_entities = http.post(
            "/get-online-features",
            json={
                "feature_service": "driver_activity",
                "entities": {"driver_id": [1003], "val_to_add": [10]},
                "full_feature_names": True,
            },
        )
        in_context = http.post(
            "/get-online-features",
            json={
                "feature_service": "driver_activity",
                "entities": {"driver_id": [1003]},
                "request_context": {"val_to_add": [10]},
                "full_feature_names": True,
            },
        )
    assert in_entities.status_code == 200, in_entities.text
    assert in_entities.json() == in_context.json()
    body = in_entities.json()
    names = body["metadata"]["feature_names"]
    assert names[0] == "driver_id"
    assert "driver_hourly_stats__conv_rate" in names
    plus = body["results"][names.index("conv_rate_plus_val__conv_rate_plus_val")]
    assert math.isclose(plus["values"][0], float(row["conv_rate"]) + 10, rel_tol=1e-6)


def test_arrow_response(served: Served, data: pa.Table) -> None:
    with served.client() as http:
        r = http.post(
            "/get-online-features",
            json={"features": FEATURES, "entities": {"driver_id": [1001, 1004]}},
            headers={"Accept": "application/vnd.apache.arrow.stream"},
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.apache.arrow.stream")
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.column("driver_id").to_pylist() == [1001, 1004]
    assert table.column("avg_daily_trips").to_pylist() == [
        _latest(data, d)["avg_daily_trips"] for d in (1001, 1004)
    ]
    assert pa.types.is_int64(table.schema.field("avg_daily_trips").type)


def _error(r: object) -> tuple[int, str]:
    import httpx

    assert isinstance(r, httpx.Response)
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return r.status_code, body["error"]["code"]


def test_errors_are_json_with_stable_codes(served: Served) -> None:
    with served.client() as http:
        unknown_feature = http.post(
            "/get-online-features",
            json={"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1001]}},
        )
        unknown_view = http.post(
            "/get-online-features",
            json={"features": ["nope:conv_rate"], "entities": {"driver_id": [1001]}},
        )
        not_json = http.post(
            "/get-online-features",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        no_features = http.post("/get-online-features", json={"entities": {"driver_id": [1]}})
        ragged = http.post(
            "/get-online-features",
            json={"features": FEATURES, "entities": {"driver_id": [1], "val_to_add": [1, 2]}},
        )
        no_route = http.get("/nowhere")
        wrong_method = http.get("/get-online-features")
    assert _error(unknown_feature) == (404, "not_found")
    assert _error(unknown_view) == (404, "not_found")
    assert _error(not_json) == (400, "bad_request")
    assert _error(no_features) == (400, "bad_request")
    assert _error(ragged) == (400, "bad_request")
    assert _error(no_route) == (404, "not_found")
    assert _error(wrong_method) == (405, "method_not_allowed")
