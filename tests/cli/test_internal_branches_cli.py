"""The CLI keeps the internal ``saved-datasets`` branch out of ``branch list`` and refuses
to delete, create, commit on, merge into or revert it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.datasets import DATASETS_BRANCH
from repos import Repository

ENTRY = "from featurestore.cli import main; main()"


def fs(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "FEATURESTORE_AUTHOR": "cli-test"},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose repository holds a saved dataset on the internal branch."""
    path = tmp_path / "proj"
    path.mkdir()
    (path / "featurestore.yaml").write_text("project: demo\nstorage: data\n")
    repo = Repository.create(path / "data")
    try:
        internal = repo.branch(DATASETS_BRANCH).create("main")
        internal.upload_many({"datasets/kept/meta.json": b"{}"})
        internal.commit("save dataset kept")
        repo.branch("feature-x").create("main")
    finally:
        repo.close()
    return path


def _head(project: Path) -> str:
    repo = Repository.open(project / "data")
    try:
        return repo.ref(DATASETS_BRANCH).resolve()
    finally:
        repo.close()


def test_branch_list_leaves_out_internal_branches(project: Path) -> None:
    out = fs("branch", "list", "--repo", project)
    assert out.returncode == 0, out.stderr
    assert "feature-x" in out.stdout and "main" in out.stdout
    assert DATASETS_BRANCH not in out.stdout
    shown = fs("branch", "list", "--all", "--repo", project)
    assert f"{DATASETS_BRANCH} (internal)" in shown.stdout


def test_internal_branch_is_refused_by_every_writing_command(project: Path) -> None:
    head = _head(project)
    attempts = [
        ("branch", "delete", DATASETS_BRANCH),
        ("branch", "create", DATASETS_BRANCH),
        ("commit", "-m", "x", "--allow-empty", "--branch", DATASETS_BRANCH),
        ("merge", "feature-x", DATASETS_BRANCH, "--allow-empty"),
        ("revert", DATASETS_BRANCH, head),
    ]
    for args in attempts:
        out = fs(*args, "--repo", project)
        assert out.returncode == 1, (args, out.stdout)
        assert "internal" in out.stderr and "saved dataset" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert _head(project) == head
    repo = Repository.open(project / "data")
    try:
        assert repo.ref(DATASETS_BRANCH).object("datasets/kept/meta.json").exists()
    finally:
        repo.close()
    # other branches are deleted as before
    assert fs("branch", "delete", "feature-x", "--repo", project).returncode == 0
