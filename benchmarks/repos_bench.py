"""Repository scaling: commit latency with one changed path, branch creation, and a
1k-path prefix listing, in repositories of 10k, 100k and 1M paths.

Each repository is built with one bulk staging write (identical bytes are stored once)
and one commit. Timed rounds interleave the sizes, so drifting machine load hits them
alike; each figure is the median of ``--repeats`` runs after one warm-up.

    python -m benchmarks.repos_bench                       # SQLite metadata
    python -m benchmarks.repos_bench --sizes 10000 100000  # quicker
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from repos import Repository

SIZES = [10_000, 100_000, 1_000_000]


def path_of(i: int) -> str:
    return f"d{i // 1000:04d}/f{i % 1000:04d}.parquet"


class Sized:
    """One repository of ``n`` paths and the timings taken on it."""

    def __init__(self, root: Path, n: int, url: str | None) -> None:
        self.n = n
        t0 = time.perf_counter()
        self.repo = Repository.create(root / f"repo_{n}", url)
        self.main = self.repo.branch("main")
        payload = b"PAR1" + b"\0" * 60  # identical bytes: one object
        self.main.upload_many({path_of(i): payload for i in range(n)})
        self.main.commit(f"{n} paths")
        self.build_s = time.perf_counter() - t0
        self.commit_ms: list[float] = []
        self.branch_ms: list[float] = []

    def commit_one(self, k: int) -> None:
        self.main.object(path_of((k * 7919) % self.n)).upload(f"change {k}".encode())
        t = time.perf_counter()
        self.main.commit(f"change {k}")
        self.commit_ms.append((time.perf_counter() - t) * 1000)

    def branch_one(self, k: int) -> None:
        t = time.perf_counter()
        self.repo.branch(f"b{k}").create("main")
        self.branch_ms.append((time.perf_counter() - t) * 1000)


def timed_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(sizes: list[int], repeats: int, url: str | None) -> dict[int, dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="repos_bench_"))
    try:
        repos = [Sized(root, n, url) for n in sorted(sizes)]
        for k in range(repeats + 1):
            for r in repos:
                r.commit_one(k)
                r.branch_one(k)
        rows = {
            r.n: {
                "build_s": r.build_s,
                "commit_ms": statistics.median(r.commit_ms[1:]),
                "branch_ms": statistics.median(r.branch_ms[1:]),
            }
            for r in repos
        }
        big = repos[-1]
        prefix = path_of(big.n // 2).split("/")[0] + "/"
        head = big.main.head
        assert sum(1 for _ in head.objects(prefix)) == min(1000, big.n)
        rows[big.n]["list_commit_ms"] = timed_ms(lambda: list(head.objects(prefix)), repeats)
        rows[big.n]["list_branch_ms"] = timed_ms(lambda: list(big.main.objects(prefix)), repeats)
        for r in repos:
            r.repo.close()
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="repos scaling benchmark")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    parser.add_argument(
        "--metadata-url", default=None, help="SQLAlchemy URL of an empty database (one size only)"
    )
    args = parser.parse_args()
    sizes = args.sizes[:1] if args.metadata_url else args.sizes
    rows = run(sizes, args.repeats, args.metadata_url)
    where = "PostgreSQL" if args.metadata_url else "SQLite"
    print(f"\nrepos benchmark: medians of {args.repeats}, metadata in {where}\n")
    print("| paths | build (s) | commit, 1 changed path (ms) | create branch (ms) |")
    print("|---:|---:|---:|---:|")
    for n, r in rows.items():
        print(f"| {n:,} | {r['build_s']:.1f} | {r['commit_ms']:.2f} | {r['branch_ms']:.2f} |")
    big, small = max(rows), min(rows)
    print(
        f"\nlist a {min(1000, big):,}-path prefix of the {big:,}-path repository: "
        f"{rows[big]['list_commit_ms']:.2f} ms at a commit, "
        f"{rows[big]['list_branch_ms']:.2f} ms on a branch (staging merged in)"
    )
    if big != small:
        ratio = rows[big]["commit_ms"] / rows[small]["commit_ms"]
        verdict = "ok" if ratio < 2 else "TOO HIGH"
        print(f"commit latency {big:,} / {small:,} paths: {ratio:.2f}x (under 2: {verdict})")


if __name__ == "__main__":
    main()
