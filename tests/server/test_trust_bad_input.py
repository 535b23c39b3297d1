"""Client input that once answered 500 answers a 4xx with a stable code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server.conftest import NOW, Served

AT = (NOW + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
LIMITS = [
    "²",  # str.isdigit accepts superscripts; int() does not
    "٣",  # an Arabic-Indic digit: int() accepts it, the API takes ASCII only
    "9" * 5000,  # int() refuses past 4300 digits
    "1" * 19,
    "10001",
    "0",
    "-1",
    "1.5",
    "1e3",
    "0x10",
    " 5",
    "",
]
BAD_KEYS: list[object] = [1.5, True, 1e30, 2**70, -(2**70), "1001", None, [1], {"a": 1}]


def _code(r: object) -> tuple[int, str]:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code < 500, r.text
    return r.status_code, r.json()["error"]["code"]


@pytest.mark.parametrize("limit", LIMITS, ids=lambda v: f"{v[:8]!r}x{len(v)}")
def test_log_limit(served: Served, limit: str) -> None:
    with served.client() as http:
        assert _code(http.get("/log", params={"limit": limit})) == (400, "bad_request")
        assert http.get("/log", params={"limit": "10000"}).status_code == 200
        assert http.get("/log", params={"limit": "0007"}).status_code == 200


def test_huge_ref_suffix(served: Served) -> None:
    with served.client() as http:
        for ref in ("main~" + "9" * 5000, "main^" + "9" * 5000, "main~99999999999"):
            status, _ = _code(http.get("/log", params={"ref": ref}))
            assert 400 <= status < 500


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_entity_keys(served: Served, key: object) -> None:
    with served.client() as http:
        lookup = http.post(
            "/get-online-features",
            json={"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [key]}},
        )
        if lookup.status_code != 200:  # "1001" may be read as 1001 one day; never a 500
            status, _ = _code(lookup)
            assert 400 <= status < 500
        push = http.post(
            "/push",
            json={
                "push_source_name": "driver_stats_push_source",
                "df": {
                    "driver_id": [key],
                    "event_timestamp": [AT],
                    "created": [AT],
                    "conv_rate": [0.5],
                    "acc_rate": [0.5],
                    "avg_daily_trips": [5],
                },
            },
        )
        if push.status_code != 200 or key != "1001":  # a numeric string may be cast
            status, _ = _code(push)
            assert 400 <= status < 500


@pytest.mark.parametrize(
    "when",
    [
        "2025-01-01T00:00:00.123456789Z",  # nanoseconds
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-01-01T00:00:00+99:00",
        1_700_000_000_000_000_000,  # an integer of nanoseconds
        1.5,
        True,
    ],
    ids=repr,
)
def test_bad_push_timestamps(served: Served, when: object) -> None:
    with served.client() as http:
        r = http.post(
            "/push",
            json={
                "push_source_name": "driver_stats_push_source",
                "df": {
                    "driver_id": [1013],
                    "event_timestamp": [when],
                    "created": [AT],
                    "conv_rate": [0.5],
                    "acc_rate": [0.5],
                    "avg_daily_trips": [5],
                },
            },
        )
        if r.status_code != 200:
            status, _ = _code(r)
            assert 400 <= status < 500
