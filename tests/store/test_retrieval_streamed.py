"""Training sets streamed batch by batch (``to_batches``, ``to_parquet``) equal the
in-memory build: as-of features, windowed aggregates and on-demand views across many
small engine batches, ranges without entity rows, and no entity rows at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import store_data

import offline._array_engine
import offline._engine
from featurestore import FeatureStore

REFS = ["driver_stats:trips", "driver_stats:rate", "driver_extras:rate_plus_bonus"]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine batches of 97 rows, so the join and each window stream split unevenly."""
    monkeypatch.setattr(offline._engine, "_BATCH_ROWS", 97)
    monkeypatch.setattr(offline._array_engine, "_BATCH_ROWS", 97)


def _data(store: FeatureStore) -> None:
    store.ingest("driver_stats", store_data.driver_rows())
    store.ingest("customer_stats", store_data.customer_rows())
    store.ingest("trips", store_data.trip_rows())
    store.commit("rows")


def _refs(store: FeatureStore) -> list[str]:
    view = store.get_feature_view("driver_trips")
    names = [a.name for a in view.aggregations]
    assert names, "driver_trips has aggregations"
    return REFS + [f"driver_trips:{n}" for n in names[:2]]


@pytest.mark.usefixtures("small_batches")
def test_streamed_parquet_equals_the_in_memory_build(store: FeatureStore, tmp_path: Path) -> None:
    _data(store)
    ents = store_data.entity_frame(n=700)
    ents["bonus"] = np.linspace(-1, 1, len(ents))
    refs = _refs(store)
    want = store.get_historical_features(ents, refs).to_arrow()
    assert want.num_rows == len(ents) > 97 * 5
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "train.parquet"
    rows = store.get_historical_features(ents, refs).to_parquet(str(out))
    got = pq.read_table(out)
    assert rows == want.num_rows
    assert got.schema == want.schema
    assert got.equals(want)
    assert got.column("row_id").to_pylist() == ents.row_id.tolist()  # entity order kept
    assert [p.name for p in out.parent.iterdir()] == ["train.parquet"]  # no partial file left

    seen: list[tuple[int, int | None]] = []
    reader = store.get_historical_features(ents, refs).to_batches(
        progress=lambda what, done, total: seen.append((done, total))
    )
    batches = list(reader)
    assert len(batches) > 1  # streamed, not one table
    assert pa.Table.from_batches(batches, reader.schema).equals(want)
    assert seen[0] == (0, len(ents)) and seen[-1] == (len(ents), len(ents))


@pytest.mark.usefixtures("small_batches")
def test_streamed_range_and_empty_entities(store: FeatureStore, tmp_path: Path) -> None:
    _data(store)
    start, end = store_data.h(10), store_data.h(20)
    refs = ["driver_stats:trips", "driver_stats:rate"]
    want = store.get_historical_features(features=refs, start_date=start, end_date=end).to_arrow()
    assert want.num_rows > 0
    job = store.get_historical_features(features=refs, start_date=start, end_date=end)
    assert pa.Table.from_batches(list(job.to_batches()), want.schema).equals(want)

    ents = store_data.entity_frame(n=5).iloc[:0]
    ents["bonus"] = np.zeros(0)
    all_refs = _refs(store)
    empty = store.get_historical_features(ents, all_refs).to_arrow()
    out = tmp_path / "empty.parquet"
    assert store.get_historical_features(ents, all_refs).to_parquet(str(out)) == 0
    written = pq.read_table(out)
    assert written.num_rows == 0 and written.schema == empty.schema
