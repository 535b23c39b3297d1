"""A bounded soak: six processes commit, merge, tag, delete branches and run GC with
retention 0 for 30 s; afterwards every object of every reachable commit reads back with
its checksum, and GC still runs."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from repos import (
    ConflictError,
    EmptyCommitError,
    NotFoundError,
    Repository,
)
from tests.repos.reachable import everything_reads

pytestmark = pytest.mark.slow

WORKERS = 6
SECONDS = float(os.environ.get("FEATURESTORE_SOAK_SECONDS", "30"))
POOL = [f"shared-{i}".encode() for i in range(8)]  # identical bytes re-uploaded by everyone


def _worker(storage: str, url: str | None, n: int, seconds: float, out: str) -> None:
    rng = random.Random(n)
    repo = Repository.open(storage, url, author=f"w{n}")
    ops: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    violations: list[str] = []
    own = repo.branch(f"w{n}").create("main", exist_ok=True)
    extra: list[str] = []
    tags: list[str] = []
    gone: list[str] = []  # heads of branches this worker deleted: unreachable commits
    seq = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op = rng.choice(["commit", "commit", "commit", "merge", "branch", "tag", "delete", "gc"])
        seq += 1
        try:
            if op == "commit":
                data = rng.choice(POOL) if rng.random() < 0.4 else f"w{n}-{seq}".encode()
                path = f"w{n}/{rng.randrange(20)}"
                own.object(path).upload(data)
                commit = own.commit(f"w{n} {seq}")
                if repo.ref(commit.id).object(path).read() != data:
                    violations.append(f"{commit.id[:12]}:{path} read other bytes")
            elif op == "merge":
                own.merge_into("main", strategy="source-wins")
            elif op == "branch":
                log = [c.id for c in repo.ref("main").log(max_amount=50)]
                source = rng.choice([*log, "main", *tags, *gone[-5:]])
                name = f"w{n}-b{seq}"
                b = repo.branch(name).create(source)
                extra.append(name)
                for o in b.objects():
                    b.object(o.path).read()
            elif op == "tag":
                if tags and rng.random() < 0.5:
                    repo.tag(tags.pop(rng.randrange(len(tags)))).delete()
                else:
                    name = f"w{n}-t{seq}"
                    repo.tag(name).create(rng.choice(["main", own.id]))
                    tags.append(name)
            elif op == "delete":
                if rng.random() < 0.3:  # drop this worker's branch, unmerged commits and all
                    gone.append(own.resolve())
                    own.delete()
                    own = repo.branch(f"w{n}").create("main")
                elif extra:
                    b = repo.branch(extra.pop(rng.randrange(len(extra))))
                    gone.append(b.resolve())
                    b.delete()
            else:
                repo.gc(retention=timedelta(0))
            ops[op] += 1
        except (ConflictError, EmptyCommitError) as e:
            refused[type(e).__name__] += 1
        except NotFoundError as e:
            if "garbage collection" in str(e):  # a ref to an expired commit is refused
                refused["expired commit"] += 1
            else:
                violations.append(f"{op}: {e}")
        except Exception as e:
            violations.append(f"{op}: {type(e).__name__}: {e}")
    repo.close()
    Path(out).write_text(json.dumps({"ops": ops, "refused": refused, "violations": violations}))


def test_soak_writers_and_gc(tmp_path: Path, metadata_url: str | None) -> None:
    storage = tmp_path / "repo"
    repo = Repository.create(storage, metadata_url)
    main = repo.branch("main")
    main.upload_many({"seed": b"seed", **{f"pool/{i}": d for i, d in enumerate(POOL)}})
    main.commit("seed")
    ctx = mp.get_context("spawn")
    outs = [str(tmp_path / f"w{n}.json") for n in range(WORKERS)]
    procs = [
        ctx.Process(target=_worker, args=(str(storage), metadata_url, n, SECONDS, outs[n]))
        for n in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(SECONDS + 120)
        assert p.exitcode == 0, f"worker exited {p.exitcode}"
    ops: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    violations: list[str] = []
    for out in outs:
        r = json.loads(Path(out).read_text())
        ops.update(r["ops"])
        refused.update(r["refused"])
        violations += r["violations"]
    read = everything_reads(repo)
    repo.gc(retention=timedelta(0))
    assert everything_reads(repo) == read
    summary = {
        "backend": "sqlite" if metadata_url is None else "postgresql",
        "operations": sum(ops.values()),
        "by_op": dict(ops),
        "refused": dict(refused),
        "violations": len(violations),
        "objects_read_after": read,
    }
    print("soak:", json.dumps(summary))
    report = os.environ.get("FEATURESTORE_SOAK_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps(summary) + "\n")
    assert violations == []
    assert ops["gc"] > 0 and ops["commit"] > 0 and ops["merge"] > 0
    repo.close()
