"""Fixtures for the CLI tests: a driver_stats project, and ``featurestore`` run as the real
console entry point in a subprocess at a given terminal width."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

import repos
from featurestore import FeatureStore, load_config
from featurestore.project import load_definitions

ENTRY = "from featurestore.cli import main; main()"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "driver_stats"


class Run:
    """``featurestore ARGS`` in a subprocess with a clean environment."""

    def __init__(self, project: Path, redis_url: str) -> None:
        self.project = project
        self.env = {
            "COLUMNS": "80",
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "REDIS_URL": redis_url,
            "FEATURESTORE_AUTHOR": "cli-test",
        }

    def __call__(
        self,
        *args: str | Path,
        code: int = 0,
        env: Mapping[str, str] | None = None,
        prelude: str = "",
    ) -> subprocess.CompletedProcess[str]:
        """Run in the project folder; the exit status must be ``code``."""
        proc = subprocess.run(
            [sys.executable, "-c", prelude + ENTRY, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.project,
            env={**self.env, **(env or {})},
        )
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        if code == 1:
            assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        return proc

    def raw(self, *args: str | Path) -> bytes:
        """The bytes a successful run writes on stdout."""
        proc = subprocess.run(
            [sys.executable, "-c", ENTRY, *map(str, args)],
            capture_output=True,
            timeout=120,
            cwd=self.project,
            env=self.env,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        return proc.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A driver_stats project (definitions not applied yet) with its own key prefix."""
    path = tmp_path / "proj"
    path.mkdir()
    shutil.copy2(EXAMPLE / "definitions.py", path / "definitions.py")
    name = f"cli_{uuid.uuid4().hex[:10]}"
    (path / "featurestore.yaml").write_text(yaml.safe_dump({"project": name, "storage": "data"}))
    repos.Repository.create(path / "data").close()
    return path


@pytest.fixture
def fs(project: Path, redis_url: str) -> Run:
    return Run(project, redis_url)


@pytest.fixture
def store(project: Path, redis_url: str) -> Iterator[FeatureStore]:
    """The same project opened in this process, to set up and check what commands did."""
    s = FeatureStore(project, config=load_config(project, env={"REDIS_URL": redis_url}))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def applied(store: FeatureStore) -> FeatureStore:
    """The store with the project's definitions applied and committed on main."""
    store.apply(load_definitions(store.config.project_dir), partial=False)
    store.commit("definitions")
    return store
