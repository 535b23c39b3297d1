"""The materialization-at-Redis's-limit benchmark at a tiny size: ours, ``redis-cli
--pipe`` of the same hashes, ``redis-benchmark`` and an incremental run of 1% changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import datagen
from benchmarks import materialize_limit_bench as bench


@pytest.mark.skipif(
    shutil.which("redis-cli") is None or shutil.which("redis-benchmark") is None,
    reason="needs redis-cli and redis-benchmark (apt-get install redis-tools)",
)
def test_tiny_run_prints_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(datagen, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")
    assert bench.main(["--rows", "20000", "--entities", "2000", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "2,000 entities x 5 features" in out
    assert "| featurestore `materialize` (full, from empty) |" in out
    assert "| limit: `redis-cli --pipe` of the same hashes |" in out
    assert "| limit: `redis-benchmark -P 64` HSET, same fields |" in out
    inc = next(line for line in out.splitlines() if line.startswith("| `materialize_incremental`"))
    assert "| 20 |" in inc  # 1% of 2,000 drivers rewritten, not all
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["online-20000-2000-5-42"]
