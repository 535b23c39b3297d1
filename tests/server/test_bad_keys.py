"""Entity keys of the wrong type or range, and push times the store cannot keep, are
client errors over HTTP: a 4xx with a stable code and a message, never a 500."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.server.conftest import NOW, Served

# JSON texts of keys for the Int64 join key driver_id: 2**70, beyond int64, and others.
BAD_KEYS = [
    "1.5",
    "true",
    "false",
    "1e30",
    "1180591620717411303424",
    "-9223372036854775809",
    "5.0",
]
FEATURES = '["driver_hourly_stats:conv_rate"]'


def _refused(r: httpx.Response) -> str:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"] and body["error"]["code"]
    return str(body["error"]["message"])


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_lookup_with_a_bad_key_is_a_client_error(served: Served, key: str) -> None:
    body = f'{{"features": {FEATURES}, "entities": {{"driver_id": [{key}]}}}}'
    with served.client() as http:
        r = http.post(
            "/get-online-features", content=body, headers={"Content-Type": "application/json"}
        )
        message = _refused(r)
        assert "driver_id" in message or "integer" in message or "JSON" in message


def test_a_whole_number_in_text_names_the_integer_key_as_feast_reads_it(served: Served) -> None:
    bodies = [
        f'{{"features": {FEATURES}, "entities": {{"driver_id": [{key}]}}}}'
        for key in ('"1001", "1002"', "1001, 1002")
    ]
    with served.client() as http:
        text, number = (
            http.post(
                "/get-online-features", content=b, headers={"Content-Type": "application/json"}
            )
            for b in bodies
        )
    assert text.status_code == number.status_code == 200, (text.text, number.text)
    assert text.json() == number.json()
    assert text.json()["results"][0]["values"] == [1001, 1002]


def _push_body(key: str, at: str, to: str = "online_and_offline") -> str:
    return (
        f'{{"push_source_name": "driver_stats_push_source", "to": "{to}", '
        f'"df": {{"driver_id": [{key}], "event_timestamp": ["{at}"], '
        f'"created": ["{at}"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [3]}}}}'
    )


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("to", ["online", "online_and_offline"])
def test_a_push_with_a_bad_key_is_a_client_error_and_writes_nothing(
    served: Served, key: str, to: str
) -> None:
    at = (NOW + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = served.store.repository.branch("main").uncommitted()
    with served.client() as http:
        r = http.post(
            "/push", content=_push_body(key, at, to), headers={"Content-Type": "application/json"}
        )
        _refused(r)
    assert list(served.store.repository.branch("main").uncommitted()) == list(before)


def test_a_push_with_nanosecond_digits_is_a_client_error(served: Served) -> None:
    base = (NOW + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    with served.client() as http:
        r = http.post(
            "/push",
            content=_push_body("990001", base + ".123456789Z"),
            headers={"Content-Type": "application/json"},
        )
        assert "sub-microsecond" in _refused(r)
        ok = http.post(
            "/push",
            content=_push_body("990001", base + ".123456000Z", "online"),
            headers={"Content-Type": "application/json"},
        )
        assert ok.status_code == 200, ok.text
