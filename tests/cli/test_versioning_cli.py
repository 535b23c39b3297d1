"""The versioning commands, run as the real console entry point in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repos import Repository

ENTRY = "from featurestore.cli import main; main()"


def fs(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "FEATURESTORE_AUTHOR": "cli-test"},
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project made in-process (``init`` itself is tested through the CLI below)."""
    path = tmp_path / "proj"
    path.mkdir()
    (path / "featurestore.yaml").write_text("project: demo\nstorage: data\n")
    Repository.create(path / "data").close()
    return path


def open_repo(project: Path) -> Repository:
    return Repository.open(project / "data")


def test_init_writes_config_and_repository(tmp_path: Path) -> None:
    path = tmp_path / "new-proj"
    out = fs("init", path).stdout
    assert "Initialized project 'new_proj'" in out
    assert yaml.safe_load((path / "featurestore.yaml").read_text()) == {
        "project": "new_proj",
        "storage": "data",
    }
    repo = open_repo(path)
    assert [b.id for b in repo.branches()] == ["main"]
    repo.close()
    fs("init", path)  # again: keeps the config and the repository


def test_branch_commit_log_diff_tag_merge_revert_gc(project: Path) -> None:
    repo = open_repo(project)
    repo.branch("main").upload_many({"a/x": b"1", "a/y": b"2"})
    uncommitted = fs("diff", "main", "-r", project).stdout
    assert "a/x" in uncommitted and "added" in uncommitted
    out = fs("commit", "-m", "first data", "--meta", "run=7", "-r", project).stdout
    first = repo.branch("main").get_commit()
    assert first.id[:12] in out and first.metadata == {"run": "7"}
    assert first.author == "cli-test"

    fs("branch", "create", "dev", "--source", "main", "-r", project)
    listing = fs("branch", "list", "-r", project).stdout
    assert "dev" in listing and "main (default)" in listing and first.id[:12] in listing

    repo.branch("dev").upload_many({"b/z": b"3"})
    fs("commit", "-m", "on dev", "-b", "dev", "-r", project)
    fs("tag", "create", "v1", "main", "-r", project)
    assert "v1" in fs("tag", "list", "-r", project).stdout

    diff = fs("diff", "main", "dev", "-r", project).stdout
    assert "b/z" in diff and "a/x" not in diff
    merged = fs("merge", "dev", "main", "-r", project).stdout
    head = repo.branch("main").get_commit()
    assert head.id[:12] in merged and len(head.parents) == 2

    log = fs("log", "main", "-r", project).stdout
    assert all(m in log for m in ("Merge 'dev' into 'main'", "on dev", "first data", "Repository"))
    only_b = fs("log", "main", "--prefix", "b/", "-r", project).stdout
    assert "on dev" in only_b and "first data" not in only_b
    assert "first data" not in fs("log", "main", "-n", "1", "-r", project).stdout

    fs("revert", "main", first.id[:12], "-r", project)
    assert [o.path for o in repo.branch("main").objects()] == ["b/z"]

    fs("tag", "delete", "v1", "-r", project)
    fs("branch", "delete", "dev", "-r", project)
    assert [b.id for b in repo.branches()] == ["main"] and repo.tags() == []
    assert "objects removed" in fs("gc", "--retention-days", "0", "-r", project).stdout
    repo.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["branch", "create", "bad name"], "invalid branch name"),
        (["branch", "delete", "main"], "default branch"),
        (["log", "nope"], "ref 'nope' not found"),
        (["commit", "-m", "nothing"], "nothing to commit"),
        (["merge", "main", "main"], "into itself"),
        (["tag", "delete", "v9"], "tag 'v9' not found"),
        (["merge", "main", "x", "--strategy", "mine"], "unknown strategy"),
    ],
)
def test_errors_are_one_line_on_stderr_with_exit_1(
    project: Path, args: list[str], message: str
) -> None:
    proc = fs(*args, "-r", project, ok=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_missing_project_is_a_clear_error(tmp_path: Path) -> None:
    proc = fs("log", "-r", tmp_path, ok=False)
    assert proc.returncode == 1 and "featurestore init" in proc.stderr


HELP_COMMANDS = [
    "init",
    "branch",
    "branch create",
    "branch delete",
    "branch list",
    "commit",
    "log",
    "diff",
    "merge",
    "revert",
    "tag",
    "tag create",
    "tag delete",
    "tag list",
    "gc",
]
HELP_SCRIPT = """
import sys
from typer.testing import CliRunner
from featurestore.cli import app, commands
runner = CliRunner()
for command in sys.argv[1:]:
    result = runner.invoke(app, [*command.split(), "--help"])
    print(command, "|", result.exit_code, "|", "Usage" in result.output, "|", len(result.output))
"""


def test_every_command_has_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, *HELP_COMMANDS],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(" | ") for line in proc.stdout.splitlines()]
    assert [r[0] for r in rows] == HELP_COMMANDS
    assert all(r[1] == "0" and r[2] == "True" and int(r[3]) > 100 for r in rows), rows
