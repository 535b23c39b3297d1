"""The Arrow Flight offline server answers malformed calls with Feast's error detail
(a stable code, a message saying what to do) and keeps serving; nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from featurestore.server import OfflineServer
from tests.server.conftest import NOW, Served


@pytest.fixture
def flight(served: Served) -> Iterator[fl.FlightClient]:
    server = OfflineServer(served.store, "grpc+tcp://127.0.0.1:0")
    try:
        with fl.connect(f"grpc+tcp://127.0.0.1:{server.port}") as client:
            yield client
    finally:
        server.shutdown()


def _detail(error: BaseException) -> dict[str, Any]:
    text = str(error)
    start = text.index("Flight error: ") + len("Flight error: ")
    detail, _ = json.JSONDecoder().raw_decode(text[start:])
    assert isinstance(detail, dict)
    return detail


def _exchange(client: fl.FlightClient, command: bytes, table: pa.Table) -> pa.Table:
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
    writer.begin(table.schema)
    writer.write_table(table)
    writer.done_writing()
    result: pa.Table = reader.read_all()
    return result


ENTITIES = pa.table(
    {"driver_id": [1001, 1002], "event_timestamp": pa.array([NOW, NOW], pa.timestamp("us", "UTC"))}
)


@pytest.mark.parametrize(
    ("command", "code", "words"),
    [
        (b"not json", "bad_request", "JSON command"),
        (b'["a list"]', "bad_request", "JSON command"),
        (b'{"api": "drop_everything"}', "validation_error", "not served"),
        (b'{"api": "get_historical_features"}', "bad_request", "feature_refs"),
        (
            b'{"api": "get_historical_features", "feature_refs": ["nope:x"]}',
            "not_found",
            "nope",
        ),
        (
            b'{"api": "get_historical_features", "feature_refs": '
            b'["driver_hourly_stats:conv_rate"], "start_date": "yesterday"}',
            "bad_request",
            "start_date",
        ),
        (
            b'{"api": "get_historical_features", "feature_refs": '
            b'["driver_hourly_stats:conv_rate"], "entity_df_sql": "SELECT 1"}',
            "validation_error",
            "SQL",
        ),
        (
            b'{"api": "pull_latest_from_table_or_query", "data_source_name": "nope"}',
            "not_found",
            "nope",
        ),
        (
            b'{"api": "pull_all_from_table_or_query", "data_source_name": "driver_stats", '
            b'"join_key_columns": ["driver_id"], "feature_name_columns": ["x\\" OR 1=1"], '
            b'"timestamp_field": "event_timestamp"}',
            "validation_error",
            "no column",
        ),
    ],
)
def test_bad_reads_are_client_errors(
    flight: fl.FlightClient, command: bytes, code: str, words: str
) -> None:
    with pytest.raises(fl.FlightError) as caught:
        _exchange(flight, command, ENTITIES)
    detail = _detail(caught.value)
    assert detail["module"] == "feast.errors"
    assert detail["error"]["code"] == code, detail
    assert words in detail["message"], detail
    # The server still answers.
    good = json.dumps(
        {
            "api": "get_historical_features",
            "feature_refs": ["driver_hourly_stats:conv_rate"],
            "full_feature_names": False,
        }
    ).encode()
    table = _exchange(flight, good, ENTITIES)
    assert table.column("driver_id").to_pylist() == [1001, 1002]
    assert table.column("conv_rate").null_count == 0


def test_bad_writes_are_client_errors_and_write_nothing(
    served: Served, flight: fl.FlightClient
) -> None:
    before = list(served.store.repository.branch("main").uncommitted())
    for command, words in (
        (b'{"api": "offline_write_batch"}', "feature_view_names"),
        (b'{"api": "offline_write_batch", "feature_view_names": ["nope"]}', "nope"),
        (
            b'{"api": "offline_write_batch", "feature_view_names": ["driver_hourly_stats"]}',
            "conv_rate",
        ),
        (b'{"api": "persist"}', "create_saved_dataset"),
    ):
        writer, _ = flight.do_put(fl.FlightDescriptor.for_command(command), ENTITIES.schema)
        with pytest.raises(fl.FlightError) as caught:
            writer.write_table(ENTITIES)
            writer.close()
        assert words in _detail(caught.value)["message"], (command, caught.value)
    assert list(served.store.repository.branch("main").uncommitted()) == before
