"""The lookups-under-load benchmark at a tiny size: its project builds, the service
answers in both phases, the materializer runs and the table has both phases' rows."""

from __future__ import annotations

from benchmarks import lookups_under_load_bench as bench


def test_both_phases_are_measured_and_tabled() -> None:
    idle, loaded, runs, _ = bench.run(rows=2_000, entities=200, calls=50)
    assert len(idle.ms) == 50 and len(loaded.ms) == 50
    assert runs >= 1
    text = bench.table(idle, loaded)
    lines = text.splitlines()
    assert len(lines) == 5
    assert lines[2].startswith("| idle | 50 |")
    assert lines[3].startswith("| while materializing | 50 |")
    assert "x** |" in lines[4]
