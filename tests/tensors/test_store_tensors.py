"""Training sets and online responses as tensors: the service's order, labels apart, exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featurestore as fs
from featurestore import ValidationError
from tests.tensors.tensor_data import DRIVERS, T0, entity_rows, service, stats_rows

ORDER = ["rate", "trips", "active", "small"]


def test_job_to_numpy_follows_the_service_order_with_labels_apart(store: fs.FeatureStore) -> None:
    ents = entity_rows(DRIVERS + 1)
    job = store.get_historical_features(ents, service, ref="v1")
    x, mask, y = job.to_numpy(dtype="float64", labels=["label"])
    frame = job.to_pandas()
    assert x.shape == (DRIVERS + 1, 4)
    assert y is not None and y[:, 0].tolist() == ents["label"].tolist()
    assert y.dtype == np.float64  # labels take the features' dtype unless label_dtype says
    _, _, ty = job.to_torch(dtype=torch.float64, labels=["label"])
    assert ty is not None and ty.dtype == torch.float64
    _, _, ty = job.to_torch(features=["rate"], labels=["label"], label_dtype=torch.int64)
    assert (
        ty is not None and ty.dtype == torch.int64 and ty[:, 0].tolist() == ents["label"].tolist()
    )
    for j, name in enumerate(ORDER):
        column = frame[name]
        nulls = column.isna().to_numpy()
        assert mask is not None and mask[:, j].tolist() == nulls.tolist()
        assert np.isnan(x[nulls, j]).all()
        assert x[~nulls, j].tolist() == column[~nulls].astype(float).tolist()
    # the unknown driver's row (id 51) is null everywhere
    assert mask[DRIVERS].all()


def test_job_to_torch_keeps_int64_features_exact(store: fs.FeatureStore) -> None:
    job = store.get_historical_features(entity_rows(10), ["stats:trips", "stats:seen"], ref="v1")
    x, mask, y = job.to_torch(dtype=torch.int64, null_fill=0)
    assert y is None and x.dtype == torch.int64
    rows = stats_rows().set_index("driver_id")
    ids = entity_rows(10)["driver_id"].tolist()
    expected_trips = [0 if pd_na(rows.loc[i, "trips"]) else int(rows.loc[i, "trips"]) for i in ids]
    assert x[:, 0].tolist() == expected_trips  # 2**40 + i: beyond float32's exact range
    micros = [int(T0.timestamp()) * 10**6 - i for i in ids]  # seen = T0 - i microseconds
    assert x[:, 1].tolist() == micros
    assert mask is not None and mask[:, 0].tolist() == [pd_na(rows.loc[i, "trips"]) for i in ids]
    with pytest.raises(ValidationError, match=r"column 'trips'.*float32"):
        job.to_torch()


def pd_na(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_job_conversions_refuse_strings_and_unknown_names(store: fs.FeatureStore) -> None:
    job = store.get_historical_features(entity_rows(5), ["stats:rate", "stats:city"], ref="v1")
    with pytest.raises(ValidationError, match=r"column 'city' holds string"):
        job.to_numpy()
    x, _, _ = job.to_numpy(features=["rate"])
    assert x.shape == (5, 1)
    with pytest.raises(ValidationError, match=r"unknown feature\(s\) \['driver_id'\]"):
        job.to_numpy(features=["driver_id"])
    with pytest.raises(ValidationError, match=r"unknown label column\(s\) \['y'\]"):
        job.to_torch(features=["rate"], labels=["y"])


def test_online_response_to_torch_equals_the_training_set_at_the_same_time(
    store: fs.FeatureStore,
) -> None:
    store.materialize(None, T0.to_pydatetime())
    ids = list(range(1, DRIVERS + 2))
    response = store.get_online_features(service, [{"driver_id": i} for i in ids])
    online_x, online_mask = response.to_torch(dtype=torch.float64)
    job = store.get_historical_features(entity_rows(DRIVERS + 1), service, ref="v1")
    offline_x, offline_mask, _ = job.to_torch(dtype=torch.float64)
    assert response.feature_names == ORDER
    assert torch.equal(online_mask, offline_mask)
    assert torch.equal(online_x.nan_to_num(-1.0), offline_x.nan_to_num(-1.0))
    x, mask = response.to_numpy(features=["small"], dtype="int32", null_fill=-1)
    assert x.dtype == np.int32 and x[:, 0].tolist() == [*range(1, DRIVERS + 1), -1]
    assert mask is not None and mask[:, 0].tolist() == [False] * DRIVERS + [True]
