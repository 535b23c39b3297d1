"""The Spark benchmark at a tiny size, on the engines that need no Spark: each variant
runs in its own process on the objects of one commit, its rows are checked against the
first variant's, and a variant past its timeout is reported, not fatal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.spark_bench", "--sizes", "small", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_it_prints_a_row_per_variant_and_their_ratio() -> None:
    out = bench("--variants", "duckdb", "polars", "--repeats", "1", "--no-warm-up")
    assert "small: 100,000 feature rows, 10,000 entity rows" in out
    assert re.search(r"duckdb\s+[\d.]+ s\s+\(same rows as duckdb\)", out)
    assert re.search(r"polars\s+[\d.]+ s\s+\(same rows as duckdb\)", out)
    assert re.search(r"polars / duckdb: [\d.]+x", out)


def test_a_variant_past_its_timeout_is_reported() -> None:
    out = bench("--variants", "duckdb", "--repeats", "1", "--timeout", "0.01")
    assert "duckdb        timed out after 0 s (killed)" in out
