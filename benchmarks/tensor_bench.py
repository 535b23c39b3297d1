"""Tensor conversion and training-loader benchmark (CPU).

to_torch: `featurestore.tensors.to_torch` of a table's columns against the raw limit on
the same Arrow buffers: each column's zero-copy NumPy view copied into one row-major
matrix, then `torch.from_numpy` (and, for one column, `torch.from_numpy` of the view).
Cases: float32 columns into float32 (one copy), small int64 columns into float32 (with
the exactness check), one float32 column (zero-copy).
Loader: batches/s of `store.training_loader` over a saved dataset (shuffled, prefetching)
against the step rate of a small MLP (2 hidden layers of 256, Adam) on the same batches.

    python benchmarks/tensor_bench.py [--rows 1000000] [--columns 16] [--repeat 15]
        [--device cuda] [--skip-loader]

With ``--device cuda`` it also times a training batch's host-to-device copy: to_torch
from Arrow with pinned memory vs the raw ``tensor.to(device)`` of the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import featurestore as fs
from featurestore.tensors import to_torch


def _medians(
    ours: Callable[[], object], raw: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median seconds of each, run alternately (a busy machine slows both alike)."""
    ours(), raw()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((ours, times[0]), (raw, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _raw(table: pa.Table, names: list[str], dtype: np.dtype[np.generic]) -> torch.Tensor:
    views = [table.column(n).chunk(0).to_numpy(zero_copy_only=True) for n in names]
    out = np.empty((table.num_rows, len(names)), dtype=dtype)
    for j, v in enumerate(views):
        out[:, j] = v
    return torch.from_numpy(out)


def conversion(rows: int, columns: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    floats = pa.table({f"f{j}": rng.random(rows, dtype=np.float32) for j in range(columns)})
    ints = pa.table({f"i{j}": rng.integers(0, 1000, rows) for j in range(columns)})
    names_f, names_i = floats.schema.names, ints.schema.names
    f32 = np.dtype("float32")
    cases = {
        f"{columns} float32 columns -> float32": (
            lambda: to_torch(floats, names_f),
            lambda: _raw(floats, names_f, f32),
        ),
        f"{columns} int64 columns -> float32 (exactness checked)": (
            lambda: to_torch(ints, names_i),
            lambda: _raw(ints, names_i, f32),
        ),
        "1 float32 column (zero-copy)": (
            lambda: to_torch(floats, ["f0"]),
            lambda: torch.from_dlpack(floats.column("f0").chunk(0)).reshape(-1, 1),
        ),
    }
    assert torch.equal(to_torch(floats, names_f)[0], _raw(floats, names_f, f32))
    print(
        f"to_torch vs torch.from_numpy on the same Arrow buffers ({rows:,} rows, median of {repeat})"
    )
    for name, (ours, raw) in cases.items():
        a, b = _medians(ours, raw, repeat)
        print(f"  {name:55s} {a * 1e3:9.3f} ms vs {b * 1e3:9.3f} ms   {a / b:5.2f}x")


def transfer(device: str, rows: int, columns: int, repeat: int) -> None:
    """A training batch to ``device``: ``to_torch(device=, pin_memory=True)`` from Arrow vs
    the raw ``tensor.to(device)`` of the same bytes from a ready pinned host tensor."""
    rng = np.random.default_rng(2)
    table = pa.table({f"f{j}": rng.random(rows, dtype=np.float32) for j in range(columns)})
    names = table.schema.names
    host = _raw(table, names, np.dtype("float32"))
    if torch.accelerator.is_available():
        host = host.pin_memory()

    def sync() -> None:
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()

    def ours() -> None:
        to_torch(table, names, device=device, pin_memory=True)
        sync()

    def raw() -> None:
        host.to(device, non_blocking=True)
        sync()

    a, b = _medians(ours, raw, repeat)
    gb = host.numel() * host.element_size() / 1e9
    print(f"host-to-device ({device}) of a {rows:,} x {columns} float32 batch ({gb * 1e3:.0f} MB)")
    print(
        f"  to_torch(device=, pin_memory=True) {a * 1e3:9.3f} ms vs tensor.to(device) "
        f"{b * 1e3:9.3f} ms   {a / b:5.2f}x   ({gb / b:.1f} GB/s raw)"
    )


def loader(rows: int, batch: int) -> None:
    drivers = 10_000
    with tempfile.TemporaryDirectory() as tmp:
        store = fs.FeatureStore.init(Path(tmp) / "repo")
        try:
            driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
            source = fs.TableSource(name="stats", timestamp_field="event_timestamp")
            fields = [fs.Field(name=f"x{j}", dtype=fs.Float32) for j in range(15)]
            fields.append(fs.Field(name="trips", dtype=fs.Int64))
            view = fs.FeatureView(name="stats", entities=[driver], schema=fields, source=source)
            store.apply([driver, source, view])
            rng = np.random.default_rng(1)
            t0 = pd.Timestamp("2025-01-01", tz="UTC")
            frame = pd.DataFrame(
                {f"x{j}": rng.random(drivers, dtype=np.float32) for j in range(15)}
            )
            frame["trips"] = rng.integers(0, 1000, drivers)
            frame["driver_id"] = np.arange(drivers)
            frame["event_timestamp"] = t0 - pd.Timedelta(days=1)
            store.ingest("stats", frame)
            store.commit("stats")
            ents = pd.DataFrame(
                {
                    "driver_id": rng.integers(0, drivers, rows),
                    "event_timestamp": t0,
                    "label": rng.integers(0, 2, rows).astype(np.float32),
                }
            )
            refs = [f"stats:{f.name}" for f in fields]
            store.create_saved_dataset(store.get_historical_features(ents, refs), "bench")

            def read() -> int:
                n = 0
                for _ in store.training_loader("bench", batch, shuffle_seed=0, labels=["label"]):
                    n += 1
                return n

            start = time.perf_counter()
            batches = read()
            load_s = time.perf_counter() - start
            model = torch.nn.Sequential(
                torch.nn.Linear(16, 256),
                torch.nn.ReLU(),
                torch.nn.Linear(256, 256),
                torch.nn.ReLU(),
                torch.nn.Linear(256, 1),
            )
            opt = torch.optim.Adam(model.parameters())
            data = list(store.training_loader("bench", batch, shuffle_seed=0, labels=["label"]))
            start = time.perf_counter()
            for b in data:
                opt.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    model(b.features), b.labels
                )
                loss.backward()
                opt.step()
            step_s = time.perf_counter() - start
        finally:
            store.close()
    lb, sb = batches / load_s, len(data) / step_s
    print(f"loader over a saved dataset ({rows:,} rows x 16 features, batch {batch}, shuffled)")
    print(
        f"  loader {lb:9.0f} batches/s vs MLP step {sb:9.0f} steps/s (CPU, {torch.get_num_threads()} threads)   loader/MLP {lb / sb:5.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--loader-rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument(
        "--device", default=None, help="also time host-to-device copies to it (cuda on a GPU)"
    )
    parser.add_argument("--skip-loader", action="store_true")
    args = parser.parse_args(argv)
    conversion(args.rows, args.columns, args.repeat)
    if args.device:
        transfer(args.device, 65_536, args.columns, args.repeat)
    if args.skip_loader:
        return 0
    loader(args.loader_rows, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
