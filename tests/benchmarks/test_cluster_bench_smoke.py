"""The Redis Cluster benchmark at a tiny size: it starts its cluster and its single
server, prints a rows/s line per store and a lookup line per workload, and stops them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--rows", "2000", "--lookups", "50", "--repeats", "1", "--rounds", "2"]


def test_it_prints_a_row_per_store_and_workload() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/cluster_bench.py", *ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "materialize 2000 rows" in out
    assert re.search(r"single node\s+[\d,]+\n", out)
    assert re.search(r"cluster, WAIT 1\s+[\d,]+\s+[\d.]+x single", out)
    assert re.search(r"cluster, no WAIT\s+[\d,]+\s+[\d.]+x single", out)
    for name in ("1 entity", "100 entities"):
        assert re.search(rf"{name}\s+single p50 [\d.]+ p99 [\d.]+ \| cluster p50", out), out
    assert out.count("cluster/single p50") == 2
    assert out.count("median of rounds' p50 ratios") == 2
