"""The repository-at-scale benchmark at a tiny size: its fixtures build, are reused from
the cache, and its table has one row per workload and layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import repos_scale_bench as bench


def test_the_table_has_a_row_per_workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")
    rows = bench.run((1_000, 2_000), (20, 40), (100, 200), repeats=1)
    names = [r[0] for r in rows]
    assert names == [
        "merge, 1,000 changed paths (clustered)",
        "merge, 1,000 changed paths (spread)",
        "diff, 1,000 changed paths (clustered)",
        "diff, 1,000 changed paths (spread)",
        'log, prefix "p3/", newest 100',
        'log, prefix "p3/", whole history',
        "gc, 1,000 garbage objects",
    ]
    assert all(len(r[2]) == 2 and len(r[4]) == 2 for r in rows)  # warm-up and one timed
    text = bench.table(rows)
    assert text.count("\n") == len(rows) + 1 and "| 2,000 paths |" in text
    per = bench.per_unit(rows)
    assert [line.split(":")[0] for line in per] == [names[5], names[6]]
    assert " us per commit at 40 commits" in per[0] and " us per object at 200 objects" in per[1]
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert cached == [
        f"{kind}-{n}-{bench.VERSION}"
        for kind, n in [
            ("commits", 20),
            ("commits", 40),
            ("objects", 100),
            ("objects", 200),
            ("paths", 1000),
            ("paths", 2000),
        ]
    ]
    again = bench.run((1_000, 2_000), (20, 40), (100, 200), repeats=0, only=("log",))
    assert [r[0] for r in again] == names[4:6]  # from the cache
