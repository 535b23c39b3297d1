"""store.score: offline at a commit equals live from the online store, with commits."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import torch

from featurestore import FeatureStore
from featurestore.errors import NotFoundError, ValidationError
from tests.scoring import models
from tests.scoring.conftest import SERVICE
from tests.server.conftest import DRIVERS, NOW

FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips", "conv_rate_plus_val")


@pytest.fixture(scope="module")
def store(project: Path) -> FeatureStore:
    with FeatureStore(project) as opened:
        yield opened  # type: ignore[misc]


def _drivers(data: pa.Table) -> list[int]:
    return sorted(set(data.column("driver_id").to_pylist()))[:DRIVERS]


def test_offline_equals_online_for_the_same_entity_and_time(
    store: FeatureStore, data: pa.Table
) -> None:
    drivers = _drivers(data)
    rows = [{"driver_id": d, "val_to_add": i} for i, d in enumerate(drivers)]
    live = store.score(models.linear, rows, SERVICE, now=NOW)
    frame = pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_timestamp": pa.array([NOW] * len(drivers), pa.timestamp("us", tz="UTC")),
            "val_to_add": pa.array(range(len(drivers)), pa.int64()),
        }
    )
    commit = store.resolve()
    batch = store.score(models.linear, frame, SERVICE, ref=commit)
    assert live.feature_names == batch.feature_names == FEATURES
    assert live.features.shape == (len(drivers), 4)
    assert not torch.isnan(live.features).any()  # every driver has a row within the ttl
    assert torch.equal(live.features, batch.features)
    assert torch.equal(live.predictions, batch.predictions)
    assert torch.equal(live.predictions, models.linear(live.features))
    assert batch.commits == (commit,) * len(drivers)
    assert live.commits == (commit,) * len(drivers)  # materialized from that commit
    assert not batch.uncommitted
    assert len(live) == len(drivers)
    assert live.tolist() == pytest.approx(live.predictions.tolist())
    assert list(live.to_pandas()["commit"]) == [commit] * len(drivers)
    assert "ScoreResult" in repr(live) and commit[:12] in repr(live)


def test_a_module_and_one_dict_row(store: FeatureStore, data: pa.Table) -> None:
    driver = _drivers(data)[0]
    module = models.Linear()
    one = store.score(module, {"driver_id": driver, "val_to_add": 3}, SERVICE, now=NOW)
    fn = store.score(models.linear, [{"driver_id": driver, "val_to_add": 3}], SERVICE, now=NOW)
    assert one.predictions.shape == (1,)
    assert torch.equal(one.predictions, fn.predictions)


def test_unknown_entity_scores_with_nan_features_and_no_commit(store: FeatureStore) -> None:
    result = store.score(models.linear, [{"driver_id": -5, "val_to_add": 1}], SERVICE, now=NOW)
    assert result.commits == (None,)
    assert result.mask is not None and bool(result.mask[0, 0])
    assert torch.isnan(result.features[0, 0])


def test_bad_input_is_refused(store: FeatureStore, data: pa.Table) -> None:
    row = [{"driver_id": _drivers(data)[0], "val_to_add": 1}]
    with pytest.raises(NotFoundError, match="nope"):
        store.score(models.linear, row, "nope")
    with pytest.raises(ValidationError, match="a function of tensors"):
        store.score("linear", row, SERVICE)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="shape"):
        store.score(models.wrong_shape, row * 3, SERVICE)
    with pytest.raises(ValidationError, match="not a tensor"):
        store.score(lambda x: x.tolist(), row, SERVICE)
    frame = pa.table({"driver_id": [1], "event_timestamp": pa.array([NOW]), "val_to_add": [1]})
    with pytest.raises(ValidationError, match="now= is for live scoring"):
        store.score(models.linear, frame, SERVICE, now=NOW)
