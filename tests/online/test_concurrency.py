"""Two processes writing old and new rows for the same keys at once: the newest wins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pyarrow as pa

import online

WRITER = textwrap.dedent(
    """
    import sys
    import pyarrow as pa
    import online

    url, prefix, stamp, value, rounds = sys.argv[1:6]
    n = 3000
    keys = online.encode_entity_keys(["id"], [pa.array(range(n))])
    table = pa.table({"v": pa.array([int(value)] * n, pa.int64()), "who": [value] * n})
    stamps = pa.array([int(stamp)] * n, pa.int64())
    written = stale = 0
    with online.RedisOnlineStore(url, key_prefix=prefix) as store:
        for _ in range(int(rounds)):
            result = store.write("t", keys, table, stamps, commit=value)
            written += result.written
            stale += result.stale
    print(written, stale)
    """
)


def test_newest_write_wins_under_concurrency(redis_url: str) -> None:
    prefix = f"race{uuid.uuid4().hex[:8]}"
    root = Path(__file__).resolve().parents[2]
    old, new = 1_000_000, 2_000_000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, redis_url, prefix, str(stamp), str(value), "15"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for stamp, value in ((old, 1), (new, 2), (old, 1))
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    counts = [tuple(map(int, out.split())) for out in outputs]
    assert counts[1] == (15 * 3000, 0)
    keys = online.encode_entity_keys(["id"], [pa.array(range(3000))])
    schema = pa.schema([("v", pa.int64()), ("who", pa.string())])
    with online.RedisOnlineStore(redis_url, key_prefix=prefix) as store:
        (got,) = store.read([online.ReadRequest("t", keys, schema)])
        store.delete_table("t")
    assert set(got.column("v").to_pylist()) == {2}
    assert set(got.column("who").to_pylist()) == {"2"}
    assert set(got.column("__commit").to_pylist()) == {"2"}
    assert got.column("__event_ts").cast(pa.int64()).to_pylist() == [new] * 3000
