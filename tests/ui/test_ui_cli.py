"""``featurestore ui``: a real process serving a project's UI read-only on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.ui.conftest import UIProject


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from featurestore.cli import main; main()", *args]


def test_featurestore_ui_serves_the_project_read_only(ui_project: UIProject) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli("ui", "--repo", str(ui_project.root), "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "read-only" in line, line + (proc.stderr.read() if proc.stderr else "")
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/ui")
        with httpx.Client(timeout=30) as client:
            catalog = client.get(f"{url}/catalog?ref=v1")
            assert catalog.status_code == 200 and "driver_hourly_stats" in catalog.text
            refused = client.post(f"{url}/actions/branch", data={"name": "x", "source": "main"})
            assert refused.status_code == 403 and "read-only" in refused.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode in (0, 130)


def test_featurestore_ui_without_a_demo_project_says_what_to_do(tmp_path: Path) -> None:
    done = subprocess.run(
        _cli("ui", "--workdir", str(tmp_path)), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "featurestore demo --workdir" in done.stderr


@pytest.mark.parametrize("host", ["0.0.0.0"])
def test_featurestore_ui_refuses_a_public_address_without_keys(
    ui_project: UIProject, host: str
) -> None:
    done = subprocess.run(
        _cli("ui", "--repo", str(ui_project.root), "--host", host, "--port", "0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "no API keys" in done.stderr
