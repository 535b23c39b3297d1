"""A store's embedded online server ends with the processes that use it: a SIGTERM to the
process that started it, and ``plan`` / ``apply`` importing a helper that opens a store,
leave no valkey-server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from featurestore import FeatureStore
from tests.processes import alive, gone_within

ROOT = Path(__file__).resolve().parents[2]
CLI = "from featurestore.cli import main; main()"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    FeatureStore.init(tmp_path / "proj", project="lifetime").close()
    return tmp_path / "proj"


def _server_pid(project: Path) -> int:
    return int((project / "data" / "online" / "valkey.pid").read_text())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_store_process_killed_leaves_no_server(project: Path, sig: int) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from featurestore import FeatureStore
        store = FeatureStore({str(project)!r})
        assert store.online_store.ping()
        print("up", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        pid = _server_pid(project)
        assert alive(pid)
        proc.send_signal(sig)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    assert gone_within(pid)


HELPER = '''
"""A helper of the project that opens a store when imported (a seeding script, say)."""
from pathlib import Path
from featurestore import FeatureStore

_store = FeatureStore(Path(__file__).parent)
_store.online_store.ping()
_pid = (Path(__file__).parent / "data" / "online" / "valkey.pid").read_text()
(Path(__file__).parent / "helper-ran").write_text(_pid)
'''


DEFINITIONS = """
from featurestore import Entity, FeatureView, Field, Int64, TableSource

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
stats = FeatureView(
    name="stats",
    entities=[driver],
    schema=[Field(name="trips", dtype=Int64)],
    source=TableSource(name="stats", timestamp_field="event_timestamp"),
)
"""


@pytest.mark.parametrize("command", [["plan"], ["apply", "-m", "definitions"]])
def test_plan_and_apply_importing_a_helper_that_opens_a_store_leave_no_server(
    project: Path, command: list[str]
) -> None:
    (project / "features.py").write_text(DEFINITIONS)
    (project / "helper.py").write_text(HELPER)
    out = subprocess.run(
        [sys.executable, "-c", CLI, *command, "--repo", str(project)],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert gone_within(int((project / "helper-ran").read_text()))
