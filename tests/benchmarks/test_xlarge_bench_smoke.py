"""The 100M-row training-set benchmark at a tiny size: its data and store build in the
cache, the CLI's streamed output equals raw DuckDB's, and the table has a row per variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import datagen
from benchmarks import xlarge_bench as bench


def test_tiny_run_prints_a_row_per_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(datagen, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")
    args = ["--rows", "20000", "--entities", "2000", "--rounds", "1", "--skip-feast"]
    assert bench.main(args) == 0
    out, err = capsys.readouterr()
    assert "ours vs raw: equal" in err
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows[1:]] == [f"| {bench.OURS}", f"| {bench.RAW}"]
    assert all("| 2,000 |" in r for r in rows[1:])
    folder = tmp_path / "cache" / "sql-20000-2000-42"
    assert sorted(p.name for p in folder.iterdir()) == [
        "entities.parquet",
        "features.parquet",
        "store",
    ]
    assert (folder / "store" / ".ready").exists()
    # the work folder of the run is removed
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["sql-20000-2000-42"]
