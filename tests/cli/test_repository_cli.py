"""The repository commands at the command line: global options, ``branch reset``,
``show commit``, ``ls``, ``cat``, ``protect``, ``--json`` documents, and usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import featurestore
from featurestore import FeatureStore
from featurestore.datasets import DATASETS_BRANCH
from tests.cli.conftest import Run


def test_version_and_the_global_repo_option(fs: Run, applied: FeatureStore, tmp_path: Path) -> None:
    assert fs("--version").stdout.strip() == f"featurestore {featurestore.__version__}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = fs("log", "--json").stdout
    fs.project, home = elsewhere, fs.project  # run from a folder that holds no project
    assert fs("-r", home, "log", "--json").stdout == before
    assert fs("--repo", home, "log", "--json").stdout == before
    assert fs("log", "--json", "-r", home).stdout == before
    # The command's own --repo wins over the global one.
    err = fs("-r", home, "log", "-r", elsewhere, code=1).stderr
    assert "featurestore.yaml" in err and str(elsewhere.name) in err


def test_usage_errors_are_one_line_with_exit_1(fs: Run) -> None:
    assert "--bogus" in fs("log", "--bogus", code=1).stderr
    assert "featurestore log --help" in fs("log", "--bogus", code=1).stderr
    assert "nocmd" in fs("nocmd", code=1).stderr
    assert "--message" in fs("commit", code=1).stderr
    assert "Usage" in fs().stdout  # no command: the help, exit 0


def test_branch_reset_drops_uncommitted_changes(fs: Run, store: FeatureStore) -> None:
    main = store.repository.branch("main")
    head = main.resolve()
    main.upload_many({"notes/a.txt": b"a", "notes/b.txt": b"b"})
    diff = fs("diff", "main").stdout
    assert "notes/a.txt" in diff and "notes/b.txt" in diff
    out = fs("branch", "reset", "main").stdout
    assert out.strip() == f"Reset main to {head[:12]}: dropped 2 uncommitted change(s)"
    assert list(main.uncommitted()) == [] and main.resolve() == head
    assert fs("diff", "main").stdout.strip() == "No changes: nothing uncommitted on main"
    assert "No uncommitted changes on main" in fs("branch", "reset", "main").stdout
    assert "saved" in fs("branch", "reset", DATASETS_BRANCH, code=1).stderr
    assert "not found" in fs("branch", "reset", "nope", code=1).stderr


def test_log_branches_tags_and_diff_as_json(fs: Run, applied: FeatureStore) -> None:
    repo = applied.repository
    repo.tag("v1").create("main")
    repo.branch("dev").create("main")
    repo.branch("dev").upload_many({"notes/x": b"12345"})
    c = repo.branch("dev").commit("a note", metadata={"ticket": "7"})

    log = json.loads(fs("log", "dev", "--json").stdout)
    expected = [x.id for x in repo.ref("dev").log()]
    assert [e["id"] for e in log] == expected
    assert log[0] == {
        "id": c.id,
        "parents": list(c.parents),
        "message": "a note",
        "author": c.author,
        "creation_date": c.creation_date.isoformat(),
        "metadata": {"ticket": "7"},
    }
    assert len(json.loads(fs("log", "dev", "--json", "-n", "1").stdout)) == 1

    branches = {b["name"]: b for b in json.loads(fs("branch", "list", "--json").stdout)}
    assert set(branches) == {"main", "dev"}
    assert branches["dev"]["head"] == c.id and branches["main"]["default"] is True
    tags = json.loads(fs("tag", "list", "--json").stdout)
    assert tags == [{"name": "v1", "commit": repo.ref("main").resolve(), "message": "definitions"}]

    diff = json.loads(fs("diff", "main", "dev", "--json").stdout)
    assert diff == {
        "changes": [{"type": "added", "path": "notes/x", "size": 5}],
        "definitions": None,
    }
    first = repo.ref("main~1").resolve()
    with_defs = json.loads(fs("diff", first, "main", "--json").stdout)
    assert "_featurestore/registry.json" in [ch["path"] for ch in with_defs["changes"]]
    added = {e["name"] for e in with_defs["definitions"]["entries"] if e["action"] == "added"}
    assert {"driver", "driver_hourly_stats", "driver_activity"} <= added
    assert json.loads(fs("diff", "main", "--json").stdout) == {"changes": [], "definitions": None}


def test_show_commit_ls_and_cat(fs: Run, applied: FeatureStore) -> None:
    repo = applied.repository
    main = repo.branch("main")
    main.upload_many(
        {"notes/hello.txt": b"hello\x00world\n", "notes/deep/y.bin": bytes(range(256))}
    )
    c = main.commit("notes", metadata={"why": "test"})

    shown = json.loads(fs("show", "commit", "main", "--json").stdout)
    assert shown["id"] == c.id and shown["metadata"] == {"why": "test"}
    assert shown["changes"] == [
        {"type": "added", "path": "notes/deep/y.bin", "size": 256},
        {"type": "added", "path": "notes/hello.txt", "size": 12},
    ]
    text = fs("show", "commit", c.id[:10]).stdout
    assert c.id in text and "notes" in text and "why" in text and "notes/hello.txt" in text
    assert "first commit" in fs("show", "commit", "main~2").stdout

    listed = json.loads(fs("ls", "main", "notes/", "--json").stdout)
    assert [o["path"] for o in listed] == ["notes/deep/y.bin", "notes/hello.txt"]
    assert listed[0]["checksum"] == main.object("notes/deep/y.bin").stat().checksum
    assert "_featurestore/registry.json" in fs("ls", "main").stdout
    assert "No objects at main under 'nothing/'" in fs("ls", "main", "nothing/").stdout

    assert fs.raw("cat", "main", "notes/deep/y.bin") == bytes(range(256))
    assert fs.raw("cat", "main", "notes/hello.txt") == b"hello\x00world\n"
    registry = json.loads(fs("cat", "main", "_featurestore/registry.json").stdout)
    assert registry["feature_views"][0]["name"] == "driver_hourly_stats"
    assert "featurestore ls main" in fs("cat", "main", "notes/none", code=1).stderr
    assert "not found" in fs("cat", "nope", "notes/hello.txt", code=1).stderr


def test_empty_listings_say_so(fs: Run) -> None:
    assert fs("tag", "list").stdout.startswith("No tags")
    assert json.loads(fs("tag", "list", "--json").stdout) == []
    assert fs("status").stdout.startswith("No online views")
    assert fs("list", "services").stdout.strip() == "No feature services at main"


def test_protect_lists_adds_and_removes_patterns(fs: Run, store: FeatureStore) -> None:
    assert fs("protect").stdout.strip() == "No protected branches"
    fs("protect", "release-*")
    assert json.loads(fs("protect", "--json").stdout) == ["release-*"]
    store.repository.branch("release-1").create("main")
    err = fs("commit", "-b", "release-1", "-m", "direct", "--allow-empty", code=1).stderr
    assert "protected" in err
    assert "protected" in fs("branch", "delete", "release-1", code=1).stderr
    assert "(protected)" in fs("branch", "list").stdout
    fs("protect", "release-*", "--remove")
    assert fs("protect", "--json").stdout.strip() == "[]"
    fs("commit", "-b", "release-1", "-m", "direct now", "--allow-empty")
    fs("branch", "delete", "release-1")
    assert "not protected" in fs("protect", "nope", "--remove", code=1).stderr
    assert "PATTERN" in fs("protect", "--remove", code=1).stderr


NEW_COMMANDS = (
    "branch reset", "show commit", "ls", "cat", "protect", "compact", "list entities",
    "list views", "list services", "list sources", "list datasets",
)  # fmt: skip


def test_the_new_commands_have_help() -> None:
    from typer.testing import CliRunner

    from featurestore.cli import app, commands  # noqa: F401  (registers the commands)

    runner = CliRunner()
    for command in NEW_COMMANDS:
        result = runner.invoke(app, [*command.split(), "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, (command, result.output)
    top = runner.invoke(app, ["--help"]).output
    assert all(name in top for name in ("show", "ls", "cat", "protect", "compact", "list"))
    assert "--version" in top and "--repo" in top
