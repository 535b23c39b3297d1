"""A training set built at a tag (or a commit id, or ``main~N``) does not move when the
branch gets new commits, upserts and deletes."""

from __future__ import annotations

import pandas as pd
import store_data
from store_data import h

from featurestore import FeatureStore

REFS = ["driver_stats:trips", "driver_stats:rate", "customer_stats:spend"]


def test_training_set_at_a_tag_survives_later_writes(store: FeatureStore) -> None:
    drivers = store_data.driver_rows()
    store.ingest("driver_stats", drivers)
    store.ingest("customer_stats", store_data.customer_rows())
    v1 = store.commit("v1 rows")
    store.repository.tag("v1").create("main")
    ents = store_data.entity_frame(n=150)
    before = store.get_historical_features(ents, REFS, ref="v1").to_arrow()
    job_before = store.get_historical_features(ents, REFS, ref="v1")
    assert job_before.commit_id == v1.id

    # later: new rows that would win, an upsert that rewrites a row, a delete
    store.ingest(
        "driver_stats",
        pd.DataFrame(
            {
                "driver_id": [1001, 1030],
                "event_timestamp": [h(10), h(30)],
                "created": [h(40), h(40)],
                "trips": [999, 998],
                "rate": [9.9, 9.8],
            }
        ),
    )
    store.commit("newer rows")
    up = drivers[drivers.driver_id == 1031].assign(trips=7777, rate=7.7)
    store.ingest("driver_stats", up, mode="upsert")
    store.commit("upsert 1031")
    store.ingest("driver_stats", drivers[drivers.driver_id == 1032], mode="delete")
    store.commit("delete 1032")

    now = store.get_historical_features(ents, REFS).to_arrow()
    assert not now.equals(before)  # the branch did change what a fresh build sees
    trips_now = dict(
        zip(now.column("row_id").to_pylist(), now.column("trips").to_pylist(), strict=True)
    )
    tail = ents.tail(len(store_data.EDGE_ROWS)).row_id.tolist()
    assert [trips_now[r] for r in tail] == [999, 999, 999, 2, 2, 998, 7777, None, None, None, None]

    for ref in ("v1", v1.id, "main~3"):
        again = store.get_historical_features(ents, REFS, ref=ref).to_arrow()
        assert again.equals(before), ref
    assert store.get_historical_features(ents, REFS, ref="v1").commit_id == v1.id
    # the old job was pinned when it was made; running it late gives the same rows
    assert job_before.to_arrow().equals(before)


def test_job_built_on_a_branch_is_pinned_to_its_commit(store: FeatureStore) -> None:
    store.ingest("driver_stats", store_data.driver_rows())
    first = store.commit("rows")
    ents = store_data.entity_frame(n=40)
    job = store.get_historical_features(ents, ["driver_stats:trips"])  # lazy: not run yet
    store.ingest("driver_stats", store_data.driver_rows().assign(created=h(100), trips=-1))
    store.commit("overwrite everything")
    assert job.commit_id == first.id
    assert -1 not in job.to_arrow().column("trips").to_pylist()
    assert (
        -1
        in store.get_historical_features(ents, ["driver_stats:trips"])
        .to_arrow()
        .column("trips")
        .to_pylist()
    )
