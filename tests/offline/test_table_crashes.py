"""SIGKILL at every staging step of every table write, then a rerun.

Each write runs in a child process that kills itself at a chosen point (or is killed at
a random moment). Afterwards the branch reads the old rows or the new rows, never a mix,
and rerunning the same write and commit gives the rows of a clean run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import signal
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import repos
from offline import TableStore

pytestmark = pytest.mark.slow

ROWS = 10_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCHEMA = pa.schema([("k", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("v", pa.float64())])


def _rows(keys: range, value: float) -> pa.Table:
    return pa.table(
        {
            "k": list(keys),
            "ts": [T0 + timedelta(minutes=k) for k in keys],
            "v": [value + k for k in keys],
        },
        schema=SCHEMA,
    )


def _write(op: str, store: TableStore) -> None:
    """The write under test, on branch main; the caller commits."""
    if op == "append":
        store.write("main", "t", _rows(range(ROWS, ROWS + 2_000), 0.5))
    elif op == "upsert":
        store.write("main", "t", _rows(range(0, 4_000, 2), 1e6), mode="upsert")
    elif op == "delete":
        store.write("main", "t", _rows(range(500, 786), 0.0).select(["k"]), mode="delete")
    elif op == "delete_where":
        store.delete_where("main", "t", "k % 7 = 0")
    elif op == "compact":
        store.compact("main", "t", target_rows=100_000)
    else:
        raise AssertionError(op)


def _run(op: str, repo: repos.Repository) -> None:
    _write(op, TableStore(repo))
    repo.branch("main").commit(f"{op}", allow_empty=True)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        _die()
        return out

    return wrapped


def _child(storage: str, op: str, point: str) -> None:
    """Run ``op`` and kill this process at ``point``."""
    import offline._tables as tables
    import repos.repository as repository

    repo = repos.Repository.open(storage)
    calls = {"n": 0}

    def clear_then_die_at(n: int) -> Callable[..., None]:
        real = repository.clear

        def clear(*args: Any) -> None:
            real(*args)
            calls["n"] += 1
            if calls["n"] == n:
                _die()  # inside the transaction, before it commits

        return clear

    if point == "parts-written":
        tables._write_parts = _after(tables._write_parts)  # type: ignore[assignment]
    elif point == "objects-landed":
        repository.Repository._put_all = _after(repository.Repository._put_all)  # type: ignore[method-assign]
    elif point == "inside-stage-transaction":
        repository.clear = clear_then_die_at(1)  # type: ignore[assignment]
    elif point == "staged":
        repository.Repository._stage = _after(repository.Repository._stage)  # type: ignore[method-assign]
    elif point == "before-cas":
        repo._before_cas = _die
    elif point == "inside-cas-transaction":
        repository.clear = clear_then_die_at(2)  # type: ignore[assignment]
    elif point == "random":
        pass
    _run(op, repo)
    if point != "random":
        _die()  # "committed": killed after the commit


POINTS = [
    "parts-written",
    "objects-landed",
    "inside-stage-transaction",
    "staged",
    "before-cas",
    "inside-cas-transaction",
    "committed",
]
OPS = ["append", "upsert", "delete", "delete_where", "compact"]


def _snapshot(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def _state(store: TableStore, ref: str) -> tuple[list[tuple[Any, ...]], int]:
    """The rows (sorted, duplicates kept) and the number of parts: a compaction changes
    only the second."""
    return _snapshot(store.read(ref, "t")), len(store.files(ref, "t"))


@pytest.fixture(scope="module")
def ctx() -> Any:
    return mp.get_context("forkserver")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A committed table of 10,000 rows in 5 parts, and each op's clean result."""
    root = tmp_path_factory.mktemp("crash-base")
    storage = root / "repo"
    repo = repos.Repository.create(storage)
    store = TableStore(repo)
    store.create_table("main", "t", SCHEMA, keys=["k"])
    for i in range(5):
        store.write("main", "t", _rows(range(i * 2_000, (i + 1) * 2_000), 0.0))
    repo.branch("main").commit("base")
    old = _state(store, "main")
    clean: dict[str, tuple[list[tuple[Any, ...]], int]] = {}
    for op in OPS:
        copy = root / f"clean-{op}"
        shutil.copytree(storage, copy)
        r = repos.Repository.open(copy)
        _run(op, r)
        clean[op] = _state(TableStore(r), "main")
        assert clean[op] != old
        r.close()
    repo.close()
    return {"storage": storage, "old": old, "clean": clean, "root": root}


def _check_after_kill(base: dict[str, Any], storage: Path, op: str, tag: str) -> str:
    """Old or new rows, never a mix; a rerun equals a clean run. Returns what was seen."""
    old, new = base["old"], base["clean"][op]
    repo = repos.Repository.open(storage)
    store = TableStore(repo)
    seen = _state(store, "main")
    head = _state(store, repo.branch("main").resolve())
    assert seen in (old, new), f"{op}@{tag}: the branch reads a mix of old and new rows"
    assert head in (old, new), f"{op}@{tag}: the head commit holds a mix of old and new rows"
    _run(op, repo)  # the rerun
    assert _state(store, "main") == new, f"{op}@{tag}: rerun differs from clean"
    repo.gc(retention=timedelta(0), grace=timedelta(0))  # collects a dead writer's scratch
    assert list(storage.glob("tmp/scratch-*")) == [], f"{op}@{tag}: scratch folders left"
    assert _state(store, "main") == new
    repo.close()
    return "new" if seen == new else "old"


@pytest.mark.parametrize("op", OPS)
def test_sigkill_at_every_staging_step(
    base: dict[str, Any], ctx: Any, op: str, tmp_path: Path
) -> None:
    outcomes = {}
    before_tmp = set(os.listdir(tempfile.gettempdir()))
    for point in POINTS:
        storage = tmp_path / point
        shutil.copytree(base["storage"], storage)
        child = ctx.Process(target=_child, args=(str(storage), op, point))
        child.start()
        child.join(120)
        assert child.exitcode == -signal.SIGKILL, f"{op}@{point}: exit {child.exitcode}"
        outcomes[point] = _check_after_kill(base, storage, op, point)
    # a kill before the staging transaction commits stages nothing; after it, everything
    assert outcomes["objects-landed"] == "old" and outcomes["inside-stage-transaction"] == "old"
    assert outcomes["staged"] == "new" and outcomes["committed"] == "new"
    leaked = {n for n in set(os.listdir(tempfile.gettempdir())) - before_tmp if "offline" in n}
    assert not leaked, f"temporary files outside the storage: {leaked}"


@pytest.mark.parametrize("op", ["upsert", "delete_where"])
def test_sigkill_at_random_moments(base: dict[str, Any], ctx: Any, op: str, tmp_path: Path) -> None:
    rng = random.Random(8)
    for i in range(5):
        storage = tmp_path / f"r{i}"
        shutil.copytree(base["storage"], storage)
        child = ctx.Process(target=_child, args=(str(storage), op, "random"))
        child.start()
        child.join(rng.uniform(0.02, 0.6))
        if child.exitcode is None:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
        child.join(60)
        _check_after_kill(base, storage, op, f"random-{i}")
