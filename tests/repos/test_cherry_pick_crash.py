"""A cherry-pick or revert killed (SIGKILL) just before its branch moves leaves the branch
at its old head with nothing staged; GC and a rerun then work."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from repos import Repository
from tests.repos.reachable import everything_reads


def _stuck(storage: str, ready: str, verb: str, picked: str) -> None:
    repo = Repository.open(storage)

    def hang() -> None:
        Path(ready).touch()
        time.sleep(600)

    repo._before_cas = hang
    main = repo.branch("main")
    if verb == "cherry_pick":
        main.cherry_pick(picked)
    else:
        main.revert(picked)


@pytest.mark.parametrize("verb", ["cherry_pick", "revert"])
def test_killed_before_the_branch_moves(tmp_path: Path, verb: str) -> None:
    storage = tmp_path / "repo"
    repo = Repository.create(storage)
    main = repo.branch("main")
    main.object("a").upload(b"1")
    main.commit("base")
    dev = repo.branch("dev").create("main")
    dev.object("a").upload(b"2")
    dev.object("b").upload(b"new")
    picked = dev.commit("dev's change").id
    if verb == "revert":
        dev.merge_into("main")
        picked = main.resolve()
    head = main.resolve()
    ready = tmp_path / "ready"
    child = mp.get_context("spawn").Process(
        target=_stuck, args=(str(storage), str(ready), verb, picked)
    )
    child.start()
    while not ready.exists():
        assert child.is_alive(), f"the {verb} process died on its own"
        time.sleep(0.02)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert main.resolve() == head
    assert list(main.uncommitted()) == []
    repo.gc(retention=timedelta(0), grace=timedelta(0))
    assert everything_reads(repo) > 0
    done = main.cherry_pick(picked) if verb == "cherry_pick" else main.revert(picked, 1)
    assert done.parents == (head,)
    expected = {"a": b"2", "b": b"new"} if verb == "cherry_pick" else {"a": b"1"}
    assert {o.path: main.object(o.path).read() for o in main.objects()} == expected
    repo.close()
