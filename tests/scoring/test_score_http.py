"""POST /score/{service}: dynamic batching, the deadline fallback, keys and bad input,
over real HTTP against the project of conftest.py."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pyarrow as pa
import pytest

from featurestore.server._scoring import Scoring
from tests.scoring import models
from tests.scoring.conftest import SERVICE
from tests.server.conftest import READER, WRITER, Served

URL = f"/score/{SERVICE}"


def _drivers(data: pa.Table, n: int) -> list[int]:
    return sorted(set(data.column("driver_id").to_pylist()))[:n]


def _expected(served: Served, driver: int, val: int) -> float:
    result = served.store.score(models.linear, [{"driver_id": driver, "val_to_add": val}], SERVICE)
    return float(result.predictions[0])


def _post(http: httpx.Client, body: dict[str, Any], url: str = URL) -> httpx.Response:
    return http.post(url, json=body)


def test_scores_like_store_score(served: Served, data: pa.Table) -> None:
    drivers = _drivers(data, 3)
    body = {"entities": {"driver_id": drivers, "val_to_add": [1, 2, 3]}, "model": "linear"}
    with served.client() as http:
        answer = _post(http, body).json()
        scripted = _post(http, {**body, "model": "scripted"}).json()
        exported = _post(http, {**body, "model": "exported"}).json()
        rows = _post(
            http,
            {"entities": [{"driver_id": d, "val_to_add": i + 1} for i, d in enumerate(drivers)],
             "model": "linear"},
        ).json()  # fmt: skip
    direct = served.store.score(
        models.linear,
        [{"driver_id": d, "val_to_add": i + 1} for i, d in enumerate(drivers)],
        SERVICE,
    )
    assert answer["model"] == "linear" and answer["fallback"] is False
    assert answer["predictions"] == pytest.approx(direct.tolist(), rel=0, abs=0)
    assert answer["commits"] == [served.store.resolve()] * 3
    assert answer["feature_names"] == list(direct.feature_names)
    assert scripted["model"] == "scripted"
    assert scripted["predictions"] == pytest.approx(answer["predictions"], rel=1e-6)
    assert exported["model"] == "exported"
    assert exported["predictions"] == pytest.approx(answer["predictions"], rel=1e-6)
    assert rows["predictions"] == answer["predictions"]


def test_concurrent_requests_are_batched_into_fewer_model_calls(
    served_app: tuple[Served, Scoring], data: pa.Table
) -> None:
    served, scoring = served_app
    runner = scoring.runners["batched"]
    models.gated.reset()
    calls_before = runner.calls
    drivers = _drivers(data, 32)
    drivers = (drivers * 32)[:32]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            sent = [
                asyncio.create_task(
                    http.post(
                        URL,
                        json={
                            "entities": {"driver_id": [d], "val_to_add": [i]},
                            "model": "batched",
                        },
                    )
                )
                for i, d in enumerate(drivers)
            ]
            # The first call holds the gate; wait until every other request is queued
            # behind it, then open the gate: they go to the model in one call.
            waited = 0.0
            while not models.gated.entered.is_set() or (
                runner.queued_rows < 32 - models.gated.batches[0]
            ):
                assert waited < 60, "the requests never reached the model's queue"
                await asyncio.sleep(0.01)
                waited += 0.01
            models.gated.open.set()
            return list(await asyncio.gather(*sent))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 32, [r.text for r in responses]
    # the first call took what arrived within max_wait_ms (all 32 at best); every
    # request queued behind it went to one second call
    batches = models.gated.batches
    assert runner.calls - calls_before == len(batches) <= 2 < 32, batches
    assert sum(batches) == 32 and (len(batches) == 1 or batches[1] == 32 - batches[0])
    for i, (driver, response) in enumerate(zip(drivers, responses, strict=True)):
        body = response.json()
        assert body["model"] == "batched"
        assert body["predictions"] == [pytest.approx(_expected(served, driver, i), rel=1e-6)]


def test_a_slow_model_is_answered_by_its_fallback(
    served_app: tuple[Served, Scoring], data: pa.Table
) -> None:
    served, _ = served_app
    driver = _drivers(data, 1)[0]
    entities = {"driver_id": [driver], "val_to_add": [4]}
    with served.client() as http:
        answer = _post(http, {"entities": entities, "model": "slow"}).json()
        alone = _post(http, {"entities": entities, "model": "slow_alone"})
        broken = _post(http, {"entities": entities, "model": "broken"}).json()
    assert answer["model"] == "linear"
    assert answer["fallback"] is True and answer["fallback_reason"] == "deadline"
    assert answer["predictions"] == [pytest.approx(_expected(served, driver, 4), rel=1e-6)]
    assert alone.status_code == 504
    assert alone.json()["error"]["code"] == "deadline_exceeded"
    assert broken["model"] == "linear" and broken["fallback_reason"] == "error"


def test_keys_a_reader_may_score(served_keyed: Served, data: pa.Table) -> None:
    body = {"entities": {"driver_id": _drivers(data, 1), "val_to_add": [1]}, "model": "linear"}
    with served_keyed.client() as anonymous:
        refused = _post(anonymous, body)
    with served_keyed.client(READER) as reader, served_keyed.client(WRITER) as writer:
        read, written = _post(reader, body), _post(writer, body)
        too_many = _post(reader, {"entities": {"driver_id": list(range(6)), "val_to_add": [1] * 6}})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert read.status_code == written.status_code == 200
    assert read.json()["predictions"] == written.json()["predictions"]
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "too_many_entities"


@pytest.mark.parametrize(
    ("url", "body", "status", "code", "says"),
    [
        ("/score/nope", {"entities": {"driver_id": [1]}}, 404, "model_not_found", "nope"),
        (URL, {"entities": {"driver_id": [1]}, "model": "nope"}, 404, "model_not_found", "nope"),
        (URL, {"entities": {"driver_id": [1], "val_to_add": [1]}}, 400, "bad_request", "name one"),
        (URL, [1, 2], 400, "bad_request", "JSON object"),
        (URL, {"entities": {}, "model": "linear"}, 400, "bad_request", "no rows"),
        (URL, {"entities": [], "model": "linear"}, 400, "bad_request", "one object per"),
        (URL, {"entities": {"driver_id": [1]}, "modle": "linear"}, 400, "bad_request", "modle"),
        (URL, {"entities": {"driver_id": [1, 2], "val_to_add": [1]}, "model": "linear"},
         400, "bad_request", "same number"),
        (URL, {"entities": {"driver_id": [1]}, "model": "linear"},
         422, "validation_error", "val_to_add"),
        (URL, {"entities": {"driver_id": ["x"], "val_to_add": [1]}, "model": "linear"},
         422, "validation_error", "driver_id"),
        (URL, {"entities": {"driver_id": [1, 2], "val_to_add": [1, 1]}, "model": "wrong_shape"},
         500, "model_failed", "wrong_shape"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_stable_code(
    served: Served, url: str, body: Any, status: int, code: str, says: str
) -> None:
    with served.client() as http:
        response = http.post(url, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert says in error["message"]
