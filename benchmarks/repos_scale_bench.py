"""Repository at scale: merge, diff, log and GC in a large repository against the same
verb in a repository 10x or 100x smaller (lakeFS's rule: cost follows the change).

- merge / diff: a branch with 1k changed paths merged into (diffed against) a main of
  ``--paths`` paths (default 10k and 1M) that moved by 1k paths of its own since. Two
  layouts of the branch's changes: ``clustered`` (one folder of 1k files, as a table's
  new partition) and ``spread`` (1k paths at random all over the tree).
- log: a history of ``--commits`` commits (default 10k and 100k) over a tree of 100
  paths in 10 folders, each commit changing one path; ``log(prefixes=["p3/"],
  max_amount=100)`` (a page: the 100 newest commits that touched ``p3/``, a tenth of
  them) and the whole filtered history.
- gc: a store of ``--objects`` distinct objects (default 10k and 1M) that main reaches,
  plus 1k objects of a deleted branch: ``gc(retention=0)`` removes the 1k.

Fixtures are built once by a direct path (the objects written by the object store, the
trees by ``TreeStore.apply`` in one pass, the commits inserted in bulk; the branches'
changes through the public verbs) and cached under ``$FEATURESTORE_BENCH_CACHE`` (default
``~/.cache/featurestore-bench``)/``repos-scale/``. Merge and diff run on a copy of the
cached folder made per run; log only reads; GC deletes only the garbage the run itself
made. Timed rounds interleave the sizes; each figure is the median (and range) of
``--repeats`` runs after one warm-up, each on a freshly opened repository handle (no
warm tree cache).

    python -m benchmarks.repos_scale_bench                   # 10k / 1M paths, 10k / 100k commits
    python -m benchmarks.repos_scale_bench --only merge diff # some workloads
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from repos import Repository
from repos import _metadata as md
from repos._graph import commit_id
from repos._tree import Entry, TreeStore

CACHE = (
    Path(
        os.environ.get("FEATURESTORE_BENCH_CACHE") or Path.home() / ".cache" / "featurestore-bench"
    )
    / "repos-scale"
)
VERSION = "v1"
CHANGED = 1_000
WORKLOADS = ("merge", "diff", "log", "gc")
START = datetime(2025, 1, 1, tzinfo=UTC)


def path_of(i: int) -> str:
    return f"d{i // 1000:04d}/f{i % 1000:04d}.parquet"


def _cached(name: str, build: Callable[[Path], None]) -> Path:
    """The cached fixture ``name``, built into a temporary folder and renamed when absent."""
    folder = CACHE / f"{name}-{VERSION}"
    if (folder / "DONE").exists():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
    t0 = time.perf_counter()
    print(f"building fixture {name} (cached in {folder}) ...", flush=True)
    build(tmp / "repo")
    (tmp / "DONE").write_text(f"{time.perf_counter() - t0:.1f}\n")
    tmp.rename(folder)
    print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def _insert_commits(
    repo: Repository, metas: list[str], messages: Iterator[str], branch: str
) -> str:
    """Insert a linear chain of commits (one per meta-range) after ``branch``'s head, in
    bulk, and move the branch to the last: the direct path of the fixtures."""
    with repo._engine.connect() as conn:
        head = conn.execute(
            sa.select(md.branches.c.head).where(md.branches.c.name == branch)
        ).scalar_one()
        gen = conn.execute(
            sa.select(md.commits.c.generation).where(md.commits.c.id == head)
        ).scalar_one()
    rows = []
    parent = str(head)
    for k, (meta, msg) in enumerate(zip(metas, messages, strict=False)):
        when = START + timedelta(seconds=k)
        cid = commit_id((parent,), msg, {}, "bench", when, meta)
        gen += 1
        rows.append(
            {
                "id": cid,
                "parents": json.dumps([parent]),
                "message": msg,
                "metadata": "{}",
                "author": "bench",
                "creation_date": when.isoformat(),
                "meta_range_id": meta,
                "generation": gen,
            }
        )
        parent = cid
    with repo._engine.begin() as conn:
        for i in range(0, len(rows), 5_000):
            conn.execute(md.commits.insert(), rows[i : i + 5_000])
        conn.execute(md.branches.update().where(md.branches.c.name == branch).values(head=parent))
    return parent


def _bulk_tree(repo: Repository, entries: list[tuple[str, Entry | None]]) -> str:
    """A tree of ``entries`` written by one ``apply`` on the empty tree."""
    return TreeStore(repo._store).apply(repo._empty, entries)


# -- merge / diff -------------------------------------------------------------------------
def _spread(n: int) -> list[int]:
    return sorted(random.Random(n).sample(range(n), CHANGED))


def build_paths(n: int) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        repo = Repository.create(root, author="bench")
        checksum, size = repo._store.put_bytes(b"PAR1" + b"\0" * 60)
        meta = _bulk_tree(repo, [(path_of(i), (checksum, size)) for i in range(n)])
        _insert_commits(repo, [meta], iter([f"{n} paths"]), "main")
        base = repo.branch("main").resolve()
        mid = (n // 2) // 1000 * 1000
        layouts = {
            "clustered": [mid + k for k in range(CHANGED)],
            "spread": _spread(n),
        }
        for name, picks in layouts.items():
            b = repo.branch(name).create(base)
            b.upload_many({path_of(i): f"{name} {i}".encode() for i in picks})
            b.commit(f"{CHANGED} changed paths ({name})")
        repo.branch("main").upload_many(
            {f"new/f{k:04d}.parquet": f"main {k}".encode() for k in range(CHANGED)}
        )
        repo.branch("main").commit(f"{CHANGED} new paths on main")
        repo.close()

    return build


class Paths:
    """A copy of the cached ``n``-path repository, opened afresh for each timed run."""

    def __init__(self, n: int, scratch: Path) -> None:
        self.n = n
        cached = _cached(f"paths-{n}", build_paths(n))
        self.root = scratch / f"paths-{n}"
        shutil.copytree(cached / "repo", self.root)
        self.k = 0
        self.merge_s: dict[str, list[float]] = {"clustered": [], "spread": []}
        self.diff_s: dict[str, list[float]] = {"clustered": [], "spread": []}

    def merge(self, layout: str) -> None:
        self.k += 1
        with Repository.open(self.root) as repo:
            dest = repo.branch(f"into-{layout}-{self.k}").create("main")
        with Repository.open(self.root) as repo:
            t0 = time.perf_counter()
            commit = repo.branch(layout).merge_into(dest.id)
            self.merge_s[layout].append(time.perf_counter() - t0)
            changed = sum(1 for _ in repo.ref(commit.parents[0]).diff(commit.id))
            assert changed == CHANGED, changed

    def diff(self, layout: str) -> None:
        with Repository.open(self.root) as repo:
            t0 = time.perf_counter()
            changes = list(repo.ref("main").diff(layout))
            self.diff_s[layout].append(time.perf_counter() - t0)
        assert len(changes) == 2 * CHANGED, len(changes)


# -- log ----------------------------------------------------------------------------------
LOG_DIRS = 10
LOG_FILES = 10
PAYLOADS = 100


def log_path(i: int) -> str:
    return f"p{i % LOG_DIRS}/f{(i // LOG_DIRS) % LOG_FILES:02d}.parquet"


def build_commits(n: int) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        repo = Repository.create(root, author="bench")
        payloads = [repo._store.put_bytes(f"payload {k}".encode()) for k in range(PAYLOADS)]
        tree = TreeStore(repo._store)
        width = LOG_DIRS * LOG_FILES
        meta = tree.apply(repo._empty, [(log_path(i), payloads[0]) for i in range(width)])
        metas = []
        for i in range(n):
            # the path was last written ``width`` commits ago, with the previous payload
            meta = tree.apply(meta, [(log_path(i), payloads[(i // width + 1) % PAYLOADS])])
            metas.append(meta)
        _insert_commits(repo, metas, (f"change {log_path(i)}" for i in range(n)), "main")
        repo.close()

    return build


class History:
    """The cached ``n``-commit repository (log only reads it)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.root = _cached(f"commits-{n}", build_commits(n)) / "repo"
        self.page_s: list[float] = []
        self.full_s: list[float] = []

    def page(self) -> None:
        with Repository.open(self.root) as repo:
            t0 = time.perf_counter()
            got = list(repo.ref("main").log(max_amount=100, prefixes=["p3/"]))
            self.page_s.append(time.perf_counter() - t0)
        assert len(got) == min(100, self.n // LOG_DIRS + 1), len(got)  # the first adds all
        assert all(c.message.startswith("change p3/") for c in got[:-1])

    def full(self) -> None:
        with Repository.open(self.root) as repo:
            t0 = time.perf_counter()
            got = sum(1 for _ in repo.ref("main").log(prefixes=["p3/"]))
            self.full_s.append(time.perf_counter() - t0)
        assert got == self.n // LOG_DIRS + 1, got  # and the first, which added every path


# -- gc -----------------------------------------------------------------------------------
def build_objects(n: int) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        repo = Repository.create(root, author="bench")
        store = repo._store
        entries: list[tuple[str, Entry | None]] = []
        for i in range(n):
            data = f"object {i}".encode()
            checksum = hashlib.sha256(data).hexdigest()
            file = store._file(checksum)  # type: ignore[attr-defined]
            store._mkdir(file.parent)  # type: ignore[attr-defined]
            file.write_bytes(data)
            entries.append((path_of(i), (checksum, len(data))))
        _insert_commits(repo, [_bulk_tree(repo, entries)], iter([f"{n} objects"]), "main")
        repo.close()

    return build


class Store:
    """The cached ``n``-object repository; each run adds 1k objects on a branch it deletes."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.root = _cached(f"objects-{n}", build_objects(n)) / "repo"
        self.gc_s: list[float] = []

    def gc(self) -> None:
        tag = os.urandom(8).hex()
        with Repository.open(self.root) as repo:
            b = repo.branch(f"garbage-{tag}").create("main")
            b.upload_many({f"garbage/f{k:04d}": f"{tag} {k}".encode() for k in range(CHANGED)})
            b.commit("garbage")
            b.delete()
        with Repository.open(self.root) as repo:
            t0 = time.perf_counter()
            result = repo.gc(retention=timedelta(0))
            self.gc_s.append(time.perf_counter() - t0)
        assert result.objects_removed >= CHANGED, result


# -- report -------------------------------------------------------------------------------
def _fmt(times: list[float]) -> str:
    """Median (min-max) of the timed runs (the first is the warm-up)."""
    t = times[1:] or times
    med, lo, hi = statistics.median(t), min(t), max(t)
    unit, k = ("ms", 1000.0) if med < 1 else ("s", 1.0)
    return (
        f"{med * k:.1f} ({lo * k:.1f}-{hi * k:.1f}) {unit}"
        if unit == "ms"
        else (f"{med:.2f} ({lo:.2f}-{hi:.2f}) s")
    )


def _ratio(big: list[float], small: list[float]) -> tuple[float, str]:
    b, s = big[1:] or big, small[1:] or small
    r = statistics.median(b) / statistics.median(s)
    lo, hi = min(b) / max(s), max(b) / min(s)
    return r, f"{r:.2f}x ({lo:.2f}-{hi:.2f})"


def table(rows: list[tuple[str, str, list[float], str, list[float]]]) -> str:
    """The README table: each workload at the large size against its small counterpart."""
    out = [
        "| workload | large | time | small | time | large / small | under 2x |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, big_label, big, small_label, small in rows:
        r, shown = _ratio(big, small)
        out.append(
            f"| {name} | {big_label} | {_fmt(big)} | {small_label} | {_fmt(small)} | "
            f"{shown} | {'yes' if r < 2 else 'no'} |"
        )
    return "\n".join(out)


def per_unit(rows: list[tuple[str, str, list[float], str, list[float]]]) -> list[str]:
    """The cost per unit of the workloads whose work grows with the repository by nature:
    GC per object in the store (it lists them all), the whole filtered log per commit
    walked (it compares each commit's tree with its parent's at the prefix)."""
    out = []
    for name, big_label, big, small_label, small in rows:
        if not (name.startswith("gc") or name.endswith("whole history")):
            continue
        unit = big_label.split()[1].rstrip("s")
        costs = [
            f"{statistics.median(t[1:] or t) / int(label.split()[0].replace(',', '')) * 1e6:.1f}"
            f" us per {unit} at {label}"
            for label, t in ((small_label, small), (big_label, big))
        ]
        out.append(f"{name}: " + ", ".join(costs))
    return out


def run(
    paths: tuple[int, int],
    commits: tuple[int, int],
    objects: tuple[int, int],
    repeats: int,
    only: tuple[str, ...] = WORKLOADS,
) -> list[tuple[str, str, list[float], str, list[float]]]:
    rows: list[tuple[str, str, list[float], str, list[float]]] = []
    scratch = Path(tempfile.mkdtemp(prefix="repos_scale_"))
    try:
        if "merge" in only or "diff" in only:
            small, big = Paths(paths[0], scratch), Paths(paths[1], scratch)
            for _ in range(repeats + 1):
                for p in (small, big):
                    for layout in ("clustered", "spread"):
                        if "merge" in only:
                            p.merge(layout)
                        if "diff" in only:
                            p.diff(layout)
            for verb in ("merge", "diff"):
                if verb not in only:
                    continue
                for layout in ("clustered", "spread"):
                    timings = (small.merge_s if verb == "merge" else small.diff_s)[layout]
                    big_t = (big.merge_s if verb == "merge" else big.diff_s)[layout]
                    rows.append(
                        (
                            f"{verb}, {CHANGED:,} changed paths ({layout})",
                            f"{big.n:,} paths",
                            big_t,
                            f"{small.n:,} paths",
                            timings,
                        )
                    )
        if "log" in only:
            hs, hb = History(commits[0]), History(commits[1])
            for _ in range(repeats + 1):
                for h in (hs, hb):
                    h.page()
                    h.full()
            rows.append(
                (
                    'log, prefix "p3/", newest 100',
                    f"{hb.n:,} commits",
                    hb.page_s,
                    f"{hs.n:,} commits",
                    hs.page_s,
                )
            )
            rows.append(
                (
                    'log, prefix "p3/", whole history',
                    f"{hb.n:,} commits",
                    hb.full_s,
                    f"{hs.n:,} commits",
                    hs.full_s,
                )
            )
        if "gc" in only:
            ss, sb = Store(objects[0]), Store(objects[1])
            for _ in range(repeats + 1):
                for s in (ss, sb):
                    s.gc()
            rows.append(
                (
                    f"gc, {CHANGED:,} garbage objects",
                    f"{sb.n:,} objects",
                    sb.gc_s,
                    f"{ss.n:,} objects",
                    ss.gc_s,
                )
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="repository-at-scale benchmark")
    parser.add_argument("--paths", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument("--commits", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--objects", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=WORKLOADS, default=list(WORKLOADS))
    args = parser.parse_args()
    rows = run(
        tuple(args.paths), tuple(args.commits), tuple(args.objects), args.repeats, tuple(args.only)
    )
    print(
        f"\nrepository at scale: medians (min-max) of {args.repeats} after a warm-up, "
        f"SQLite metadata, {os.cpu_count()} CPUs\n"
    )
    print(table(rows))
    for line in per_unit(rows):
        print(f"\n{line}", end="")
    print()


if __name__ == "__main__":
    main()
