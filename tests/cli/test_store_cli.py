"""The store commands (plan, apply, ingest, get-historical, sql, materialize, status,
online, serve), run as the real console entry point in subprocesses against a real
Redis-protocol server (``REDIS_URL``) and a real repository."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import httpx
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli.app import app
from featurestore.cli.parsing import parse_entity_row, parse_value, parse_when
from featurestore.project import load_definitions

ENTRY = "from featurestore.cli import main; main()"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "driver_stats"
COMMANDS = (
    "plan", "apply", "ingest", "materialize", "materialize-incremental", "status",
    "get-historical", "online", "sql", "serve", "demo",
)  # fmt: skip
NOW = datetime.now(UTC).replace(microsecond=0)


def _env(redis_url: str) -> dict[str, str]:
    return {
        "COLUMNS": "250",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "REDIS_URL": redis_url,
        "FEATURESTORE_AUTHOR": "cli-test",
    }


def _argv(args: Sequence[str | Path]) -> list[str]:
    return [sys.executable, "-c", ENTRY, *map(str, args)]


class Cli:
    """Runs ``featurestore`` in subprocesses with the test's Redis and project."""

    def __init__(self, project: Path, redis_url: str) -> None:
        self.project = project
        self.env = _env(redis_url)

    def __call__(self, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            _argv([*args, "-r", self.project]),
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    def fails(self, *runs: Sequence[str | Path]) -> list[str]:
        """Run several commands at once; each must fail with one line on stderr."""
        procs = [
            subprocess.Popen(
                _argv(args if "--repo" in args else [*args, "-r", self.project]),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
            for args in runs
        ]
        errors = []
        for args, proc in zip(runs, procs, strict=True):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 1, (args, out, err)
            assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
            assert "Traceback" not in out + err
            errors.append(err)
        return errors


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_cli_test_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cli(project: Path, redis_url: str) -> Cli:
    return Cli(project, redis_url)


def _apply(store: FeatureStore) -> None:
    store.apply(load_definitions(store.config.project_dir), partial=False)
    store.commit("definitions")


def _log(store: FeatureStore, ref: str = "main") -> list[str]:
    return [c.message for c in store.repository.ref(ref).log()]


def test_plan_changes_nothing_and_apply_commits(cli: Cli, store: FeatureStore) -> None:
    before = _log(store)
    out = cli("plan").stdout
    assert "driver_hourly_stats" in out and "7 to add" in out
    assert _log(store) == before
    assert store.registry("main").feature_views == ()

    out = cli("apply", "-m", "first definitions").stdout
    assert "Committed" in out
    assert _log(store)[0] == "first definitions"
    assert [v.name for v in store.registry("main").feature_views] == ["driver_hourly_stats"]

    again = cli("apply").stdout
    assert "No changes" in again
    assert _log(store)[0] == "first definitions"

    store.repository.branch("dev").create("main")
    (cli.project / "extra.py").write_text(
        "from featurestore import FeatureService\n"
        "from definitions import driver_hourly_stats\n"
        "extra = FeatureService(name='extra', features=[driver_hourly_stats])\n"
    )
    staged = cli("apply", "--branch", "dev", "--no-commit").stdout
    assert "extra" in staged and "Staged on dev" in staged
    assert [s.name for s in store.registry("dev").feature_services] == ["driver_activity", "extra"]
    assert _log(store, "dev")[0] == "first definitions"  # staged, not committed
    assert [s.name for s in store.registry("main").feature_services] == ["driver_activity"]


def test_workflow_ingest_train_materialize_lookup(
    cli: Cli, store: FeatureStore, tmp_path: Path
) -> None:
    gen = _generator()
    data = gen.generate(seed=5, drivers=6, days=3, rows_per_driver=24, end=NOW)
    pq.write_table(data, tmp_path / "stats.parquet")
    entities = gen.entity_rows(data, fraction=0.2)
    entities = entities.append_column("val_to_add", pa.array(range(entities.num_rows), pa.int64()))
    pq.write_table(entities, tmp_path / "entities.parquet")

    _apply(store)
    out = cli("ingest", "driver_stats", tmp_path / "stats.parquet", "--commit", "-m", "stats")
    assert f"{data.num_rows} rows" in out.stdout
    assert _log(store)[0] == "stats"
    store.repository.tag("v1").create("main")

    # A CSV has no types: its columns are read as the table's (float32, UTC timestamps).
    fix = data.slice(0, 2).set_column(3, "conv_rate", pa.array([0.25, 0.75], pa.float32()))
    pcsv.write_csv(fix, tmp_path / "fix.csv")
    store.repository.branch("fixes").create("main")
    cli("ingest", "driver_stats", tmp_path / "fix.csv", "--mode", "upsert", "--branch", "fixes")
    assert _log(store, "fixes")[0] == "stats"  # staged only
    assert list(store.repository.branch("fixes").uncommitted()) != []
    store.commit("fix two rows", branch="fixes")
    fixed = store.sql(
        "select conv_rate from driver_stats where driver_id = "
        f"{fix['driver_id'][0]} and event_timestamp = '{fix['event_timestamp'][0]}' "
        "order by created desc limit 1",
        ref="fixes",
    )
    assert fixed.column(0).to_pylist() == [0.25]

    out_file = tmp_path / "out" / "train.parquet"
    cli("get-historical", tmp_path / "entities.parquet", out_file,
        "--service", "driver_activity", "--ref", "v1")  # fmt: skip
    expected = store.get_historical_features(
        entities, store.get_feature_service("driver_activity"), ref="v1"
    ).to_arrow()
    assert pq.read_table(out_file).equals(expected)

    count = cli("sql", "select count(*) as n from driver_stats", "--ref", "v1").stdout
    assert str(data.num_rows) in count

    start = (NOW - timedelta(days=4)).isoformat()
    out = cli("materialize", start, "now").stdout
    assert "driver_hourly_stats" in out and "full" in out
    head = store.resolve("main")
    status = json.loads(cli("status", "--json").stdout)
    assert [(s["view"], s["commit_id"], s["commits_behind"]) for s in status] == [
        ("driver_hourly_stats", head, 0)
    ]

    rows = [{"driver_id": 1001, "val_to_add": 5}, {"driver_id": 424242, "val_to_add": 1}]
    looked = json.loads(
        cli("online", "--service", "driver_activity", "--json",
            "-e", "driver_id=1001,val_to_add=5", "-e", "driver_id=424242,val_to_add=1").stdout
    )  # fmt: skip
    direct = store.get_online_features(store.get_feature_service("driver_activity"), rows)
    for i, row in enumerate(looked):
        for name in direct.feature_names:
            assert row[name] == direct.features[name][i].as_py()
            assert row["statuses"][name] == direct.statuses(name)[i]
    assert looked[0]["statuses"]["conv_rate"] == "PRESENT"
    assert looked[1]["statuses"]["conv_rate"] == "NOT_FOUND"
    table = cli("online", "-f", "driver_hourly_stats:avg_daily_trips",
                "-e", "driver_id=1001", "-e", "driver_id=424242").stdout  # fmt: skip
    assert str(direct.features["avg_daily_trips"][0].as_py()) in table and "NOT_FOUND" in table

    out = cli("materialize-incremental", "now", "--views", "driver_hourly_stats").stdout
    assert "incremental" in out


def test_errors_are_one_line_and_leave_nothing_behind(
    cli: Cli, store: FeatureStore, tmp_path: Path
) -> None:
    _apply(store)
    head = store.resolve("main")
    bad_types = tmp_path / "bad.csv"
    bad_types.write_text("driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
                         "1001,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,not-a-number,0.5,3\n")  # fmt: skip
    errors = cli.fails(
        ["ingest", "nope", tmp_path / "missing.parquet"],
        ["ingest", "driver_stats", bad_types],
        ["ingest", "driver_stats", bad_types, "--mode", "sideways"],
        ["materialize", "yesterday", "now"],
        ["online", "-f", "driver_hourly_stats:conv_rate", "--service", "driver_activity",
         "-e", "driver_id=1"],
        ["online", "-f", "nope:x", "-e", "driver_id=1"],
        ["status", "--repo", tmp_path / "nowhere"],
        ["apply", "--definitions", tmp_path],  # no *.py there: would remove everything
    )  # fmt: skip
    assert "no file" in errors[0]
    assert "not-a-number" in errors[1] or "conv_rate" in errors[1]
    assert "sideways" in errors[2]
    assert "'yesterday'" in errors[3] and "ISO 8601" in errors[3]
    assert "either --features" in errors[4]
    assert "nope" in errors[5]
    assert "featurestore.yaml" in errors[6]
    assert "no definitions found" in errors[7]
    assert store.resolve("main") == head
    assert list(store.repository.branch("main").uncommitted()) == []

    # A type change of a stored column is refused; the branch keeps its definitions.
    text = (cli.project / "definitions.py").read_text()
    (cli.project / "definitions.py").write_text(
        text.replace('Field(name="avg_daily_trips", dtype=Int64)',
                     'Field(name="avg_daily_trips", dtype=Float64)')
    )  # fmt: skip
    err = cli("apply", ok=False)
    assert err.returncode == 1 and err.stderr.startswith("error: ") and "break" in err.stderr
    assert store.resolve("main") == head
    assert list(store.repository.branch("main").uncommitted()) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_answers_lookups_and_stops_on_sigint(cli: Cli, store: FeatureStore) -> None:
    gen = _generator()
    _apply(store)
    store.ingest("driver_stats", gen.generate(seed=2, drivers=3, days=1, rows_per_driver=5,
                                              end=NOW))  # fmt: skip
    store.commit("data")
    store.materialize(NOW - timedelta(days=2), NOW)
    port = _free_port()
    server = subprocess.Popen(
        _argv(["serve", "--port", port, "--log-level", "warning", "-r", cli.project]),
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(600):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.communicate()
                time.sleep(0.1)
            answer = client.post(
                "/get-online-features",
                json={
                    "features": ["driver_hourly_stats:conv_rate"],
                    "entities": {"driver_id": [1001, 999999]},
                },
            )
        assert answer.status_code == 200, answer.text
        result = answer.json()["results"][1]
        direct = store.get_online_features(["driver_hourly_stats:conv_rate"],
                                           {"driver_id": [1001, 999999]})  # fmt: skip
        assert result["values"] == direct.features["conv_rate"].to_pylist()
        assert result["statuses"] == ["PRESENT", "NOT_FOUND"]
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err


def test_serve_fails_in_one_line_without_a_project(redis_url: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        _argv(["serve", "-r", tmp_path]), capture_output=True, text=True, env=_env(redis_url)
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no featurestore.yaml") and proc.stderr.count("\n") == 1


def test_every_command_is_listed_and_has_help(redis_url: str) -> None:
    proc = subprocess.run(
        _argv(["--help"]), capture_output=True, text=True, env=_env(redis_url), timeout=60
    )
    assert proc.returncode == 0
    for command in COMMANDS:
        assert command in proc.stdout
    runner = CliRunner()
    from featurestore.cli import commands  # noqa: F401  (registers the commands)

    for command in COMMANDS:
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output and "--help" in result.output


def test_option_parsing() -> None:
    assert parse_when("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_when("2025-01-31T12:00:00+02:00") == datetime(2025, 1, 31, 10, tzinfo=UTC)
    assert parse_when("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_when(" NOW ", now=NOW) == NOW
    assert parse_entity_row("driver_id=1001, name=ab c,rate=0.5,ok=true") == {
        "driver_id": 1001,
        "name": "ab c",
        "rate": 0.5,
        "ok": True,
    }
    assert parse_value("nan") == "nan" and parse_value("-7") == -7
    for bad in ("driver_id", "=3", "a=1,,b=2"):
        with pytest.raises(ValueError, match="key=value"):
            parse_entity_row(bad)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_when("tomorrow")
