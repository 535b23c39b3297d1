"""The wrk benchmark at a tiny size: the bare app and featurestore's service (default, and
with lookups on the event loop) start, wrk drives them, and the table has a row per lookup
and server of ours with the figures."""

from __future__ import annotations

import os
import shutil

import pytest

from benchmarks import wrk_bench as bench


def test_both_servers_answer_under_wrk() -> None:
    if shutil.which("wrk") is None:
        # .ci/run installs it: there a missing wrk is a failure, elsewhere a skip
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs wrk (apt-get install -y wrk)")
    text = bench.main(
        ["--drivers", "200", "--duration", "1", "--rounds", "1", "--workers", "1",
         "--connections", "8", "--servers", "bare,featurestore,featurestore-loop"]
    )  # fmt: skip
    rows = text.splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == [
        "| 1 entity x 50 features",
        "| 1 entity x 50 features, lookups on the event loop",
        "| 100 entities x 3 features",
        "| 100 entities x 3 features, lookups on the event loop",
    ]
    for row in rows:
        cells = row.split(" | ")
        assert cells[3] != "-" and cells[4] != "-"  # ours and bare req/s
        assert cells[5] == "-"  # Feast not run
