"""Several processes committing to one branch, and a process killed mid-commit."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

from repos import Repository
from tests.repos.reachable import everything_reads

WRITERS = 4
COMMITS_EACH = 5


def _committer(
    storage: str,
    url: str | None,
    worker: int,
    start: mp.synchronize.Event,
    out: mp.Queue[tuple[int, list[str]]],
) -> None:
    repo = Repository.open(storage, url)
    main = repo.branch("main")
    start.wait()
    ids = []
    for j in range(COMMITS_EACH):
        main.object(f"w{worker}/{j}").upload(f"{worker}-{j}".encode())
        ids.append(main.commit(f"worker {worker} commit {j}", allow_empty=True).id)
    repo.close()
    out.put((worker, ids))


def test_concurrent_commits_all_land_in_a_chain(storage: Path, metadata_url: str | None) -> None:
    repo = Repository.create(storage, metadata_url)
    first = repo.branch("main").resolve()
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out: mp.Queue[tuple[int, list[str]]] = ctx.Queue()
    procs = [
        ctx.Process(target=_committer, args=(str(storage), metadata_url, w, start, out))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    start.set()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    log = list(repo.branch("main").log())
    assert len(log) == WRITERS * COMMITS_EACH + 1
    assert {c.id for c in log} == {first} | {i for ids in results.values() for i in ids}
    for child, parent in itertools.pairwise(log):
        assert child.parents == (parent.id,), "the history is a chain"
    assert log[-1].id == first
    for ids in results.values():  # each worker's own commits appear in its order
        positions = [next(k for k, c in enumerate(log) if c.id == i) for i in ids]
        assert positions == sorted(positions, reverse=True)
    paths = {o.path for o in repo.branch("main").objects()}
    assert paths == {f"w{w}/{j}" for w in range(WRITERS) for j in range(COMMITS_EACH)}
    repo.close()


def _stuck_committer(storage: str, ready: str) -> None:
    repo = Repository.open(storage)
    main = repo.branch("main")
    main.upload_many({"victim/a": b"orphaned by a crash", "keep": b"v2"})

    def hang() -> None:
        Path(ready).touch()
        time.sleep(600)

    repo._before_cas = hang
    main.commit("never lands")


def _looping_committer(storage: str) -> None:
    repo = Repository.open(storage)
    main = repo.branch("main")
    i = 0
    while True:
        main.upload_many({f"loop/{i % 50}": f"round {i}".encode(), "counter": str(i).encode()})
        main.commit(f"round {i}")
        i += 1


def _wait_for(predicate: object, proc: mp.process.BaseProcess) -> None:
    assert callable(predicate)
    while not predicate():
        assert proc.is_alive(), "the child process died on its own"
        time.sleep(0.02)


def test_killed_mid_commit_leaves_old_head_and_gc_collects_orphans(storage: Path) -> None:
    repo = Repository.create(storage)
    main = repo.branch("main")
    main.upload_many({"keep": b"v1", "base/x": b"x"})
    old = main.commit("base").id
    repo.tag("t").create("main")
    ready = storage.parent / "ready"
    child = mp.get_context("spawn").Process(
        target=_stuck_committer, args=(str(storage), str(ready))
    )
    child.start()
    _wait_for(ready.exists, child)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert main.resolve() == old
    assert len(list(main.log())) == 2
    assert main.head.object("keep").read() == b"v1"
    main.reset()  # drop the dead writer's staged objects
    objects_dir = storage / "objects"
    before = {p.name for p in objects_dir.rglob("*") if p.is_file()}
    # the dead writer's tree objects keep their upload intents for the grace period
    kept = repo.gc(retention=timedelta(0))
    assert {p.name for p in objects_dir.rglob("*") if p.is_file()} != set()
    result = repo.gc(retention=timedelta(0), grace=timedelta(0))
    after = {p.name for p in objects_dir.rglob("*") if p.is_file()}
    # the data object, the ranges and the meta-range written before the compare-and-swap
    assert result.objects_removed >= 2 and kept.objects_removed + result.objects_removed >= 3
    assert len(before - after) == kept.objects_removed + result.objects_removed
    assert all(
        p.read_bytes() != b"orphaned by a crash" for p in objects_dir.rglob("*") if p.is_file()
    )
    assert everything_reads(repo) > 0
    main.object("new").upload(b"n")
    main.commit("after the crash")
    assert main.object("keep").read() == b"v1"
    repo.close()


def test_killed_at_a_random_point_in_a_commit_loop(storage: Path) -> None:
    repo = Repository.create(storage)
    main = repo.branch("main")
    child = mp.get_context("spawn").Process(target=_looping_committer, args=(str(storage),))
    child.start()
    _wait_for(lambda: len(list(main.log(max_amount=12))) >= 12, child)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    head = main.get_commit()
    log = list(main.log())
    assert log[0] == head and log[-1].parents == ()
    assert all(c.parents == (p.id,) for c, p in itertools.pairwise(log))
    rounds = len(log) - 2  # the last commit holds counter == its round number
    assert main.head.object("counter").read() == str(rounds).encode()
    main.reset()
    repo.gc(retention=timedelta(0), grace=timedelta(0))
    assert everything_reads(repo) > 0
    assert repo.gc(retention=timedelta(0)).objects_removed == 0
    repo.close()
