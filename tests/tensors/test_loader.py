"""The training loader: seeded and bit for bit, every row once across ranks and workers,
lazy reads, and bad input refused."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

import featurestore as fs
from featurestore import ValidationError
from featurestore.training import Batch, TrainingLoader, _Groups
from tests.tensors.tensor_data import T0, entity_rows, service, stats_rows

ROWS = 1000


def _job(store: fs.FeatureStore, n: int = ROWS) -> fs.RetrievalJob:
    return store.get_historical_features(entity_rows(n), service, ref="v1")


def _rows(batches: list[Batch]) -> list[int]:
    """The entity rows' ids the batches carried (row_id is asked as a label)."""
    return [int(v) for b in batches for v in b.labels[:, 0].tolist()]  # type: ignore[index]


def _same(a: list[Batch], b: list[Batch]) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x.features.nan_to_num(-1), y.features.nan_to_num(-1))
        and torch.equal(x.mask, y.mask)  # type: ignore[arg-type]
        and torch.equal(x.labels, y.labels)  # type: ignore[arg-type]
        for x, y in zip(a, b, strict=True)
    )


OPTS = {"labels": ["row_id"], "label_dtype": torch.int64, "dtype": torch.float64}


def test_same_commit_and_seed_give_the_same_batches_bit_for_bit(store: fs.FeatureStore) -> None:
    first = list(store.training_loader(_job(store), 64, shuffle_seed=7, group_rows=128, **OPTS))
    # a job built again at the same commit, and the saved dataset of it, give the same
    again = list(store.training_loader(_job(store), 64, shuffle_seed=7, group_rows=128, **OPTS))
    assert _same(first, again)
    assert [len(b.features) for b in first] == [64] * 15 + [40]
    assert first[0].features.shape == (64, 4) and first[0].features.dtype == torch.float64
    assert sorted(_rows(first)) == list(range(ROWS))
    assert _rows(first) != list(range(ROWS))  # shuffled
    other = list(store.training_loader(_job(store), 64, shuffle_seed=8, group_rows=128, **OPTS))
    assert sorted(_rows(other)) == list(range(ROWS)) and _rows(other) != _rows(first)
    loader = store.training_loader(_job(store), 64, shuffle_seed=7, group_rows=128, **OPTS)
    loader.set_epoch(1)
    epoch1 = list(loader)
    assert _rows(epoch1) != _rows(first) and sorted(_rows(epoch1)) == list(range(ROWS))
    loader.set_epoch(0)
    assert _same(list(loader), first)
    plain = list(store.training_loader(_job(store), 64, **OPTS))
    assert _rows(plain) == list(range(ROWS))  # no seed: stored order


def test_a_saved_dataset_streams_like_its_job(store: fs.FeatureStore) -> None:
    job = _job(store)
    saved = store.create_saved_dataset(job, "train")
    from_job = list(store.training_loader(job, 100, shuffle_seed=3, **OPTS))
    by_name = list(store.training_loader("train", 100, shuffle_seed=3, **OPTS))
    by_object = store.training_loader(saved, 100, shuffle_seed=3, **OPTS)
    assert by_object.commit_id == job.commit_id and len(by_object) == 10
    assert _same(from_job, by_name) and _same(by_name, list(by_object))
    x, mask, _ = job.to_torch(dtype=torch.float64)
    plain = list(store.training_loader("train", 1000, **OPTS))
    assert torch.equal(plain[0].features.nan_to_num(-1), x.nan_to_num(-1))
    assert torch.equal(plain[0].mask, mask)  # type: ignore[arg-type]


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_and_workers_see_every_row_once(store: fs.FeatureStore, drop_last: bool) -> None:
    job = _job(store)
    seen: list[int] = []
    steps = []
    for rank in range(3):
        loader = store.training_loader(
            job,
            50,
            shuffle_seed=1,
            rank=rank,
            world_size=3,
            drop_last=drop_last,
            group_rows=90,
            **OPTS,
        )
        batches = list(DataLoader(loader, batch_size=None, num_workers=2))
        assert len(batches) == loader.num_batches(workers=2)
        steps.append(len(batches))
        seen += _rows(batches)
        if drop_last:
            assert all(len(b.features) == 50 for b in batches)
    if drop_last:
        # 6 shards of 166 rows (4 rows of the order left out), 3 full batches each
        assert steps == [6, 6, 6] and len(seen) == len(set(seen)) == 6 * 150
    else:
        assert sorted(seen) == list(range(ROWS))


def test_sharding_alone_splits_rows_evenly(store: fs.FeatureStore) -> None:
    job = _job(store, 10)
    sizes = [
        len(_rows(list(store.training_loader(job, 4, rank=r, world_size=3, **OPTS))))
        for r in range(3)
    ]
    assert sizes == [4, 3, 3]


def test_the_loader_reads_row_groups_lazily(tmp_path: Path) -> None:
    path = str(tmp_path / "set.parquet")
    n = 20 * 100
    table = pa.table(
        {"row_id": pa.array(range(n), pa.int64()), "f": pa.array([float(i) for i in range(n)])}
    )
    pq.write_table(table, path, row_group_size=100)
    loader = TrainingLoader(
        _Groups(parquet=path),
        1,
        50,
        commit_id="c",
        shuffle_seed=5,
        labels=["row_id"],
        label_dtype=torch.int64,
        prefetch=1,
    )
    stream = iter(loader)
    first = next(stream)
    assert first.features.shape == (50, 1)
    # one group for the batch, one for the prefetched batch, one being read: never all 20
    assert loader.row_groups_read <= 3
    rest = list(stream)
    assert loader.row_groups_read == 20
    ids = _rows([first, *rest])
    assert sorted(ids) == list(range(n))
    assert all(b.features[:, 0].tolist() == b.labels[:, 0].tolist() for b in [first, *rest])  # type: ignore[index]


def test_stopping_early_stops_the_prefetch_thread(store: fs.FeatureStore) -> None:
    import threading

    loader = store.training_loader(_job(store), 10, group_rows=100, **OPTS)
    stream = iter(loader)
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name == "training-loader"]


def test_bad_input_is_refused(store: fs.FeatureStore) -> None:
    job = _job(store, 10)
    with pytest.raises(ValidationError, match="batch_size must be a positive integer"):
        store.training_loader(job, 0)
    with pytest.raises(ValidationError, match=r"rank must be in \[0, world_size=2\)"):
        store.training_loader(job, 4, rank=2, world_size=2)
    with pytest.raises(ValidationError, match=r"unknown label column\(s\) \['nope'\]"):
        store.training_loader(job, 4, labels=["nope"])
    with pytest.raises(ValidationError, match=r"unknown feature\(s\) \['row_id'\]"):
        store.training_loader(job, 4, features=["row_id"])
    strings = store.get_historical_features(entity_rows(10), ["stats:city"], ref="v1")
    with pytest.raises(ValidationError, match=r"column 'city' holds string"):
        store.training_loader(strings, 4)
    empty = store.get_historical_features(entity_rows(1).iloc[:0], service, ref="v1")
    with pytest.raises(ValidationError, match="no rows"):
        store.training_loader(empty, 4)
    with pytest.raises(fs.NotFoundError, match="no saved dataset named 'nope'"):
        store.training_loader("nope", 4)
    with pytest.raises(ValidationError, match="takes a SavedDataset, its name or a RetrievalJob"):
        store.training_loader(42, 4)  # type: ignore[arg-type]
    store.ingest("stats", stats_rows().assign(event_timestamp=T0, trips=7))  # not committed
    staged = store.get_historical_features(entity_rows(10), service)
    assert staged.uncommitted
    with pytest.raises(ValidationError, match=r"uncommitted writes.*commit them"):
        store.training_loader(staged, 4)


def test_batches_go_to_the_device_asked(store: fs.FeatureStore) -> None:
    loader = store.training_loader(_job(store, 20), 8, device="meta", **OPTS)
    batches = list(loader)
    assert [b.features.device.type for b in batches] == ["meta"] * 3
    assert all(b.labels is not None and b.labels.device.type == "meta" for b in batches)
