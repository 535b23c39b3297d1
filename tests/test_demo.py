"""``featurestore demo`` runs end to end in a subprocess, tells each step, and leaves
nothing running: no embedded valkey-server, no HTTP server, no temporary folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from repos import Repository

ENTRY = "from featurestore.cli import main; main()"
STEPS = (
    "create a project",
    "generate data",
    "apply, ingest, commit and tag",
    "training set at v1",
    "change features on branch 'driver-trends'",
    "diff main -> driver-trends",
    "merge driver-trends into main",
    "materialize",
    "serve lookups over HTTP",
    "online status",
    "clean up",
)


def _valkey_servers_under(folder: Path) -> list[int]:
    """valkey-server processes whose working folder (its --dir) lies under ``folder``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            name = (proc / "comm").read_text().strip()
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        if "valkey" in name and cwd.is_relative_to(folder.resolve()):
            found.append(int(proc.name))
    return found


def _demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, "demo", *args],
        capture_output=True,
        text=True,
        timeout=180,
        # REDIS_URL points nowhere: the demo must use its embedded server, not this.
        env={
            "COLUMNS": "160",
            "PATH": "/usr/bin:/bin",
            "REDIS_URL": "redis://127.0.0.1:9/0",
            **env,
        },
    )


def test_demo_tells_each_step_and_leaves_nothing_running(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    proc = _demo("--workdir", str(workdir), env={})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout
    for n, title in enumerate(STEPS, start=1):
        assert f"Step {n}/{len(STEPS)}: {title}" in out, title
    assert "tagged it v1" in out
    assert "training set at v1 rebuilt after the merge: identical" in out
    assert "NOT_FOUND" in out  # the unknown driver looked up over HTTP
    assert "GET /online-status over HTTP reports the same commits" in out
    assert "nothing left running" in out
    assert re.search(r"Demo finished in \d+\.\d s", out)
    assert proc.stderr == ""
    assert _valkey_servers_under(tmp_path) == []

    project = workdir / "driver_stats"
    assert (project / "featurestore.yaml").is_file() and (project / "driver_trends.py").is_file()
    repo = Repository.open(project / "data")
    try:
        head = repo.branch("main").get_commit()
        assert len(head.parents) == 2  # the merge of the branch
        assert repo.tag("v1").resolve() != head.id
        served = re.findall(r"every view serves main at ([0-9a-f]{12})", out)
        assert served == [head.id[:12]]
        tables = {o.path.split("/")[1] for o in repo.ref("v1").objects("tables/")}
        assert tables == {"driver_stats"}
        v1 = repo.ref("v1")
        rows = sum(
            pq.read_metadata(pa.BufferReader(v1.object(o.path).read())).num_rows
            for o in v1.objects("tables/driver_stats/")
            if o.path.endswith(".parquet")
        )
        assert f"{rows} rows from" in out
    finally:
        repo.close()


def test_demo_in_a_temporary_folder_removes_it(tmp_path: Path) -> None:
    proc = _demo(env={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "Step 11/11: clean up" in proc.stdout
    assert _valkey_servers_under(tmp_path) == []
    assert [p for p in tmp_path.iterdir() if p.name.startswith("featurestore-demo-")] == []


def test_demo_refuses_a_used_workdir(tmp_path: Path) -> None:
    (tmp_path / "driver_stats").mkdir()
    (tmp_path / "driver_stats" / "keep.txt").write_text("mine")
    proc = _demo("--workdir", str(tmp_path), env={})
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "not empty" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert [p.name for p in (tmp_path / "driver_stats").iterdir()] == ["keep.txt"]
