"""Training straight from a commit: a deterministic, sharded stream of tensor batches.

``store.training_loader(dataset_or_job, batch_size, ...)`` returns a ``TrainingLoader``,
a ``torch.utils.data.IterableDataset`` of ``Batch(features, mask, labels)`` over a saved
dataset (its Parquet object, read one row group at a time) or a ``RetrievalJob`` (its
table at its commit, read in slices of ``GROUP_ROWS`` rows). Features are converted as
``featurestore.tensors`` says (exact or refused, nulls in ``mask``); labels, the
entity-row columns named by ``labels=``, as ``label_dtype`` (default: ``dtype``).

- Order: with ``shuffle_seed`` the row groups come in a seeded order and the rows of
  each group in a seeded order (``set_epoch(n)`` draws another order, as
  ``DistributedSampler`` does); without it, in stored order. The same commit, seed,
  epoch, batch size and sharding give the same batches, bit for bit.
- Sharding: that global order is cut into ``world_size x DataLoader workers`` contiguous
  shards, one per (rank, worker) (``torch.utils.data.get_worker_info``), sizes differing
  by at most one row, so the ranks together see every row exactly once. With
  ``drop_last=True`` every shard gets the same number of rows (the last
  ``rows % shards`` rows of the order are left out) and only full batches, so every
  rank runs the same number of steps.
- Memory: a shard reads only the row groups its range overlaps, one at a time; a thread
  prepares the next ``prefetch`` batches while the model trains on the current one.
  At most one row group, one batch being assembled and ``prefetch`` batches are held.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.errors import ValidationError
from featurestore.tensors import split_columns, to_numpy, to_torch

try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as e:  # pragma: no cover - the gpu extra is installed in the tests
    raise ImportError("the training loader needs torch: pip install 'featurestore[gpu]'") from e

if TYPE_CHECKING:
    from featurestore.datasets import SavedDataset
    from featurestore.retrieval import RetrievalJob
    from featurestore.store import FeatureStore

__all__ = ["GROUP_ROWS", "Batch", "TrainingLoader", "training_loader"]

GROUP_ROWS = 65_536
"""Rows per slice of an in-memory training set (a RetrievalJob's table), by default."""


class Batch(NamedTuple):
    """One batch: features (rows x features), their null mask or None, labels or None."""

    features: torch.Tensor
    mask: torch.Tensor | None
    labels: torch.Tensor | None


class _Groups:
    """Row groups of a Parquet object, or fixed slices of a table, read one at a time."""

    def __init__(
        self,
        parquet: pq.ParquetFile | str | None = None,
        table: pa.Table | None = None,
        rows: int = 0,
    ) -> None:
        self.parquet = pq.ParquetFile(parquet) if isinstance(parquet, str) else parquet
        self.table = table
        self.rows = rows or GROUP_ROWS
        if self.parquet is not None:
            meta = self.parquet.metadata
            self.schema: pa.Schema = meta.schema.to_arrow_schema()
            self.sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        else:
            assert table is not None
            self.schema = table.schema
            n = table.num_rows
            self.sizes = [min(self.rows, n - i) for i in range(0, n, self.rows)]

    def read(self, group: int, columns: list[str]) -> pa.Table:
        if self.parquet is not None:
            return self.parquet.read_row_group(group, columns=columns)
        assert self.table is not None
        return self.table.select(columns).slice(group * self.rows, self.sizes[group])


@dataclass(frozen=True)
class _Segment:
    group: int
    rows: np.ndarray[Any, Any]
    """Row positions within the group, in stream order."""


class TrainingLoader(IterableDataset[Batch]):
    """A seeded, sharded stream of ``Batch``; see the module docstring."""

    def __init__(
        self,
        groups: _Groups,
        feature_count: int,
        batch_size: int,
        *,
        commit_id: str,
        shuffle_seed: int | None = None,
        device: Any = "cpu",
        rank: int = 0,
        world_size: int = 1,
        labels: Sequence[str] = (),
        features: Sequence[str] | None = None,
        drop_last: bool = False,
        dtype: Any = None,
        label_dtype: Any = None,
        null_fill: float | None = float("nan"),
        prefetch: int = 2,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not (isinstance(world_size, int) and world_size >= 1):
            raise ValidationError(f"world_size must be a positive integer, got {world_size!r}")
        if not (isinstance(rank, int) and 0 <= rank < world_size):
            raise ValidationError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
        if prefetch < 1:
            raise ValidationError(f"prefetch must be at least 1, got {prefetch!r}")
        if not sum(groups.sizes):
            raise ValidationError("the training set has no rows: build it from some entity rows")
        empty = groups.schema.empty_table()
        self.feature_names, self.label_names = split_columns(empty, feature_count, labels, features)
        to_numpy(empty, self.feature_names)  # refuses unknown or non-numeric columns now
        if self.label_names:
            to_numpy(empty, self.label_names)
        self.groups = groups
        self.commit_id = commit_id
        self.batch_size = batch_size
        self.shuffle_seed = shuffle_seed
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size
        self.drop_last = drop_last
        self.dtype, self.label_dtype, self.null_fill = dtype, label_dtype, null_fill
        self.prefetch = prefetch
        self.epoch = 0
        self.row_groups_read = 0
        """Row groups (or slices) read so far by this process: the stream reads lazily."""

    @property
    def num_rows(self) -> int:
        return sum(self.groups.sizes)

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of epoch ``epoch`` (with a seed); call it before each epoch."""
        self.epoch = epoch

    def _shards(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        return self.rank * workers + worker, self.world_size * workers

    def _range(self, shard: int, shards: int) -> tuple[int, int]:
        base, extra = divmod(self.num_rows, shards)
        if self.drop_last:
            return shard * base, (shard + 1) * base
        start = shard * base + min(shard, extra)
        return start, start + base + (1 if shard < extra else 0)

    def shard_rows(self, shard: int, shards: int) -> int:
        start, stop = self._range(shard, shards)
        return stop - start

    def __len__(self) -> int:
        """Batches this rank yields without DataLoader workers (in a worker: its shard's)."""
        info = get_worker_info()
        if info is not None:
            rows = self.shard_rows(*self._shards())
            return rows // self.batch_size if self.drop_last else -(-rows // self.batch_size)
        return self.num_batches()

    def num_batches(self, workers: int = 1) -> int:
        """Batches this rank yields when read by ``workers`` DataLoader workers together."""
        total = 0
        for w in range(workers):
            rows = self.shard_rows(self.rank * workers + w, self.world_size * workers)
            total += rows // self.batch_size if self.drop_last else -(-rows // self.batch_size)
        return total

    def _segments(self, shard: int, shards: int) -> Iterator[_Segment]:
        start, stop = self._range(shard, shards)
        sizes = self.groups.sizes
        seeded = self.shuffle_seed is not None
        order = (
            np.random.default_rng([self.shuffle_seed or 0, self.epoch]).permutation(len(sizes))
            if seeded
            else np.arange(len(sizes))
        )
        offset = 0
        for g in order.tolist():
            size = sizes[g]
            lo, hi = max(start, offset), min(stop, offset + size)
            if lo < hi:
                rows = (
                    np.random.default_rng([self.shuffle_seed or 0, self.epoch, g]).permutation(size)
                    if seeded
                    else np.arange(size)
                )
                yield _Segment(g, rows[lo - offset : hi - offset])
            offset += size
            if offset >= stop:
                return

    def _label_dtype(self) -> Any:
        return self.dtype if self.label_dtype is None else self.label_dtype

    def _batch(self, table: pa.Table) -> Batch:
        pin = self.device.type != "cpu"
        opts: dict[str, Any] = {
            "device": self.device,
            "null_fill": self.null_fill,
            "pin_memory": pin,
        }
        x, mask = to_torch(table, self.feature_names, dtype=self.dtype, **opts)
        y = (
            to_torch(table, self.label_names, dtype=self._label_dtype(), **opts)[0]
            if self.label_names
            else None
        )
        return Batch(x, mask, y)

    def _host_batches(self, shard: int, shards: int) -> Iterator[Batch]:
        columns = self.feature_names + [c for c in self.label_names if c not in self.feature_names]
        pending: list[pa.Table] = []
        held = 0
        for segment in self._segments(shard, shards):
            group = self.groups.read(segment.group, columns)
            self.row_groups_read += 1
            pending.append(group.take(pa.array(segment.rows)))
            held += len(segment.rows)
            while held >= self.batch_size:
                rows = pa.concat_tables(pending)
                yield self._batch(rows.slice(0, self.batch_size))
                rest = rows.slice(self.batch_size)
                pending, held = [rest], rest.num_rows
        if held and not self.drop_last:
            yield self._batch(pa.concat_tables(pending))

    def __iter__(self) -> Iterator[Batch]:
        shard, shards = self._shards()
        ready: queue.Queue[Batch | BaseException | None] = queue.Queue(self.prefetch)
        stop = threading.Event()

        def offer(item: Batch | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for batch in self._host_batches(shard, shards):
                    if not offer(batch):
                        return
                offer(None)
            except BaseException as e:
                offer(e)

        thread = threading.Thread(target=produce, name="training-loader", daemon=True)
        thread.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()


def training_loader(
    store: FeatureStore,
    dataset_or_job: SavedDataset | RetrievalJob | str,
    batch_size: int,
    *,
    group_rows: int = GROUP_ROWS,
    **options: Any,
) -> TrainingLoader:
    """A ``TrainingLoader`` over a saved dataset (or its name) or a retrieval job.

    ``options`` are ``TrainingLoader``'s; ``group_rows`` is the slice a job's table is read
    in (a saved dataset is read by its Parquet row groups)."""
    from featurestore.datasets import SavedDataset
    from featurestore.retrieval import RetrievalJob

    source = dataset_or_job
    if isinstance(source, str):
        source = store.get_saved_dataset(source)
    if isinstance(source, SavedDataset):
        groups = _Groups(parquet=source.parquet_file())
    elif isinstance(source, RetrievalJob):
        if source.uncommitted:
            raise ValidationError(
                "the training set reads uncommitted writes of a branch, so its batches could "
                "not be replayed: commit them, then build the job again"
            )
        if isinstance(group_rows, bool) or not isinstance(group_rows, int) or group_rows < 1:
            raise ValidationError(f"group_rows must be a positive integer, got {group_rows!r}")
        groups = _Groups(table=source.to_arrow(), rows=group_rows)
    else:
        raise ValidationError(
            "training_loader takes a SavedDataset, its name or a RetrievalJob, got "
            f"{type(source).__name__}"
        )
    return TrainingLoader(
        groups, len(source.feature_refs), batch_size, commit_id=source.commit_id, **options
    )
