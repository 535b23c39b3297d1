"""``exclude_created_after=True`` against Feast 0.67's ``filter_by_created_timestamp=True``.

Rows created after an entity row's time are not used for it, and neither are rows with
no created time (Feast's filter compares ``created <= t``, which a null never passes).
The same data goes through our facade (ingest, commit, get_historical_features) and
through Feast's duckdb offline store; values must be identical, row by row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import store_defs
from store_data import driver_rows, entity_frame

pytest.importorskip("feast")
from featurestore import FeatureStore
from tests.feast_oracle import FULL_NAMES, REFS, feast_historical_features, mismatches
from tests.store.store_data import customer_rows


def _drivers_with_null_created() -> pd.DataFrame:
    frame = driver_rows()
    frame["created"] = frame["created"].astype("datetime64[us, UTC]")
    # every fifth row with an event time of its own has no created time (two null
    # created times at one event time would tie, and ties have no answer) ...
    tied = frame.duplicated(["driver_id", "event_timestamp"], keep=False)
    frame.loc[(frame.index % 5 == 0) & ~tied, "created"] = pd.NaT
    # ... and so has the row that wins the tie at (1001, h(10)) when created is known
    frame.loc[frame["trips"] == 555, "created"] = pd.NaT
    return frame


@pytest.mark.parametrize("exclude", [True, False])
def test_rows_created_later_or_never_are_dropped_as_feast_drops_them(
    tmp_path: Path, store: FeatureStore, exclude: bool
) -> None:
    drivers, customers = _drivers_with_null_created(), customer_rows()
    assert drivers["created"].isna().sum() > 10
    dpath, cpath = tmp_path / "drivers.parquet", tmp_path / "customers.parquet"
    drivers.to_parquet(dpath, index=False)
    customers.to_parquet(cpath, index=False)
    entity_df = entity_frame()
    feast_df = feast_historical_features(
        tmp_path,
        dpath,
        cpath,
        entity_df.copy(),
        driver_ttl=store_defs.TTL,
        filter_by_created_timestamp=exclude,
    )
    store.ingest("driver_stats", drivers)
    store.ingest("customer_stats", customers)
    store.commit("rows")
    ours = store.get_historical_features(
        entity_df, REFS, full_feature_names=True, exclude_created_after=exclude
    ).to_arrow()
    row_ids = entity_df["row_id"].tolist()
    for column in FULL_NAMES:
        assert mismatches(ours, feast_df, row_ids, column) == [], column
    # the filter is Feast's name for the same option
    alias = store.get_historical_features(
        entity_df, REFS, full_feature_names=True, filter_by_created_timestamp=exclude
    ).to_arrow()
    assert alias.equals(ours)


def test_the_filter_changes_the_answer(store: FeatureStore) -> None:
    """Not vacuous: on this data the filter drops rows the plain join uses."""
    store.ingest("driver_stats", _drivers_with_null_created())
    store.ingest("customer_stats", customer_rows())
    store.commit("rows")
    entity_df = entity_frame()
    plain = store.get_historical_features(entity_df, REFS[:1]).to_arrow()
    strict = store.get_historical_features(entity_df, REFS[:1], exclude_created_after=True)
    assert strict.to_arrow().column("trips").null_count > plain.column("trips").null_count
