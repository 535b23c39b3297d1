"""Each kind of bad input raises one clear error of ``featurestore.errors`` and leaves
the repository as it was: no staged change, no moved branch, no new branch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
import store_data
import store_defs
from store_data import h

from featurestore import (
    FeatureStore,
    FeatureStoreError,
    FeatureView,
    Field,
    Int64,
    NotFoundError,
    SchemaError,
    TableSource,
    ValidationError,
)


@pytest.fixture
def filled(store: FeatureStore) -> Iterator[FeatureStore]:
    store.ingest("driver_stats", store_data.driver_rows())
    store.ingest("customer_stats", store_data.customer_rows())
    store.commit("rows")
    store.ingest("driver_stats", store_data.driver_rows().head(3).assign(created=h(50)))  # staged
    yield store


def _state(store: FeatureStore) -> tuple[Any, ...]:
    repo = store.repository
    return (
        sorted((b.id, b.resolve()) for b in repo.branches()),
        sorted(t.id for t in repo.tags()),
        sorted(repr(c) for c in repo.branch("main").uncommitted()),
    )


def _refused(
    store: FeatureStore, error: type[FeatureStoreError], match: str, call: Callable[[], Any]
) -> str:
    before = _state(store)
    with pytest.raises(error, match=match) as info:
        result = call()
        if hasattr(result, "to_arrow"):
            result.to_arrow()
    assert _state(store) == before
    assert len(before[2]) > 0  # the staged change is still there, untouched
    return str(info.value)


ENTS = store_data.entity_frame(n=5)


def test_missing_timestamp_column(filled: FeatureStore) -> None:
    ents = ENTS.drop(columns=["event_timestamp"])
    msg = _refused(
        filled,
        ValidationError,
        "timestamp column",
        lambda: filled.get_historical_features(ents, ["driver_stats:trips"]),
    )
    assert "event_timestamp" in msg
    nulls = ENTS.assign(event_timestamp=[None, *list(ENTS.event_timestamp[1:])])
    _refused(
        filled,
        ValidationError,
        "null",
        lambda: filled.get_historical_features(nulls, ["driver_stats:trips"]),
    )


def test_unknown_feature_refs_name_close_matches(filled: FeatureStore) -> None:
    msg = _refused(
        filled,
        NotFoundError,
        "did you mean",
        lambda: filled.get_historical_features(ENTS, ["driver_stats:trip"]),
    )
    assert "'trips'" in msg
    msg = _refused(
        filled,
        NotFoundError,
        "did you mean",
        lambda: filled.get_historical_features(ENTS, ["driver_stat:trips"]),
    )
    assert "'driver_stats'" in msg
    _refused(
        filled,
        ValidationError,
        "view:feature",
        lambda: filled.get_historical_features(ENTS, ["trips"]),
    )
    _refused(
        filled, ValidationError, "no features", lambda: filled.get_historical_features(ENTS, [])
    )


def test_join_key_missing_from_entity_rows(filled: FeatureStore) -> None:
    ents = ENTS.drop(columns=["customer_id"])
    msg = _refused(
        filled,
        ValidationError,
        "customer_id",
        lambda: filled.get_historical_features(
            ents, ["driver_stats:trips", "customer_stats:spend"]
        ),
    )
    assert "join key" in msg
    # and a request field an on-demand view needs
    _refused(
        filled,
        ValidationError,
        "bonus",
        lambda: filled.get_historical_features(ENTS, ["driver_extras:rate_plus_bonus"]),
    )


def test_request_data_of_the_wrong_type(filled: FeatureStore) -> None:
    msg = _refused(
        filled,
        ValidationError,
        "bonus",
        lambda: filled.get_historical_features(
            ENTS.assign(bonus="x"), ["driver_extras:rate_plus_bonus"]
        ),
    )
    assert "double" in msg


def test_schema_mismatch_on_ingest(filled: FeatureStore) -> None:
    good = store_data.driver_rows().head(4)
    cases = {
        "trips": good.assign(trips=["a", "b", "c", "d"]),  # wrong type
        "rate": good.drop(columns=["rate"]),  # missing column
        "color": good.assign(color="red"),  # unknown column
        "driver_id": good.assign(driver_id=[None, 1, 2, 3]),  # null key
    }
    for column, data in cases.items():
        msg = _refused(filled, SchemaError, column, lambda d=data: filled.ingest("driver_stats", d))
        assert "driver_stats" in msg or column in msg
    # a batch whose later rows are bad writes none of its rows
    mixed = pa.table(
        {
            "driver_id": [1, 2**40],
            "event_timestamp": [h(1), h(2)],
            "created": [h(1), h(2)],
            "trips": [1.0, 1.5],  # 1.5 is not an integer
            "rate": [0.1, 0.2],
        }
    )
    _refused(filled, SchemaError, "trips", lambda: filled.ingest("driver_stats", mixed))
    _refused(
        filled,
        SchemaError,
        "trips",
        lambda: filled.ingest("driver_stats", cases["trips"], mode="upsert"),
    )


def test_unknown_ref(filled: FeatureStore) -> None:
    _refused(
        filled,
        NotFoundError,
        "nope",
        lambda: filled.get_historical_features(ENTS, ["driver_stats:trips"], ref="nope"),
    )
    _refused(filled, NotFoundError, "nope", lambda: filled.registry("nope"))
    _refused(filled, NotFoundError, "main~9", lambda: filled.resolve("main~9"))
    _refused(
        filled,
        NotFoundError,
        "nope",
        lambda: filled.ingest("driver_stats", store_data.driver_rows().head(2), branch="nope"),
    )


def test_unknown_source(filled: FeatureStore) -> None:
    msg = _refused(
        filled,
        NotFoundError,
        "driver_statz",
        lambda: filled.ingest("driver_statz", store_data.driver_rows().head(2)),
    )
    assert "driver_stats" in msg


def test_bad_request_shapes(filled: FeatureStore) -> None:
    _refused(
        filled,
        ValidationError,
        "start_date",
        lambda: filled.get_historical_features(features=["driver_stats:trips"], start_date=h(1)),
    )
    _refused(
        filled,
        ValidationError,
        "join keys",
        lambda: filled.get_historical_features(
            features=["driver_stats:trips", "customer_stats:spend"], start_date=h(1), end_date=h(2)
        ),
    )
    _refused(
        filled,
        ValidationError,
        "full_feature_names",
        lambda: filled.get_historical_features(ENTS.assign(trips=1), ["driver_stats:trips"]),
    )
    _refused(
        filled,
        ValidationError,
        "expected a pandas",
        lambda: filled.get_historical_features(42, ["driver_stats:trips"]),
    )
    _refused(
        filled,
        ValidationError,
        "no file",
        lambda: filled.ingest("driver_stats", "/no/such/file.parquet"),
    )


def test_apply_refused_halfway_stages_nothing(filled: FeatureStore) -> None:
    """A new table and a view that needs a column its existing table lacks: neither lands."""
    new_source = TableSource(name="a_fresh", timestamp_field="event_timestamp")
    new_view = FeatureView(
        name="a_fresh",
        entities=[store_defs.driver],
        schema=[Field(name="x", dtype=Int64)],
        source=new_source,
    )
    wider = FeatureView(
        name="driver_stats",
        entities=[store_defs.driver],
        ttl=timedelta(hours=6),
        schema=[*store_defs.driver_stats.schema, Field(name="extra", dtype=Int64)],
        source=store_defs.driver_source,
    )
    before = filled.registry("main").hash
    _refused(filled, SchemaError, "extra", lambda: filled.apply([new_source, new_view, wider]))
    assert filled.registry("main").hash == before
    assert "a_fresh" not in filled.tables.tables("main")


def test_unknown_write_mode(filled: FeatureStore) -> None:
    msg = _refused(
        filled,
        ValidationError,
        "merge",
        lambda: filled.ingest("driver_stats", store_data.driver_rows().head(2), mode="merge"),  # type: ignore[arg-type]
    )
    assert "upsert" in msg


@pytest.mark.parametrize("rows", [[], {"driver_id": []}])
def test_online_lookup_without_entity_rows(filled: FeatureStore, rows: Any) -> None:
    _refused(
        filled,
        ValidationError,
        "no entity rows",
        lambda: filled.get_online_features(["driver_stats:trips"], rows),
    )
