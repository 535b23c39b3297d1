"""What a newcomer meets first: the help printed once, usage errors that name options as
the README does and suggest the likely command, flags without a value in ``--help``,
a port in use said in one line, names and times never split at 80 columns, ``apply``
naming the staged data it also commits, and plain wording (1 row, 12.0)."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from featurestore import FeatureStore
from featurestore.cli.render import columns_table, fit_words, text
from tests.cli.conftest import Run

NOW = datetime.now(UTC).replace(microsecond=0)


def _rows(driver: int, conv_rate: float, when: datetime = NOW) -> pa.Table:
    """One driver_stats row, typed as the table wants it."""
    return pa.table(
        {
            "driver_id": pa.array([driver], pa.int64()),
            "event_timestamp": pa.array([when], pa.timestamp("us", "UTC")),
            "created": pa.array([when], pa.timestamp("us", "UTC")),
            "conv_rate": pa.array([conv_rate], pa.float32()),
            "acc_rate": pa.array([0.5], pa.float32()),
            "avg_daily_trips": pa.array([7], pa.int64()),
        }
    )


def test_bare_command_and_group_print_the_help_once(fs: Run) -> None:
    for args in ((), ("branch",), ("list",)):
        out = fs(*args).stdout
        assert out.count("Usage:") == 1, (args, out)


def test_a_bad_value_names_the_option_and_what_it_takes(fs: Run, applied: FeatureStore) -> None:
    err = fs("log", "-n", "abc", code=1).stderr
    assert "-n/--max-count takes a whole number, got 'abc'" in err, err
    assert "Input should" not in err and "--max'" not in err
    err = fs("serve", "--workers", "0", code=1).stderr
    assert "-w/--workers takes a number of at least 1, got '0'" in err, err
    commits = json.loads(fs("log", "--max-count", "1", "--json").stdout)
    assert [c["id"] for c in commits] == [applied.resolve("main")]


def test_an_unknown_command_lists_the_choices_and_suggests_one(fs: Run) -> None:
    err = fs("list", "bogus", code=1).stderr
    for name in ("entities", "views", "services", "sources", "datasets"):
        assert name in err, err
    assert "No such command" not in err
    assert "`featurestore list views`" in fs("list", "view", code=1).stderr
    assert "`featurestore show commit main`" in fs("show", "main", code=1).stderr


def test_help_shows_no_value_after_a_flag(fs: Run) -> None:
    for args in ((), ("log",), ("list", "views"), ("apply",), ("serve",)):
        out = fs(*args, "--help").stdout
        assert "<bool>" not in out, (args, out)
        assert "--help" in out
    assert "<int>" in fs("log", "--help").stdout  # an option that takes a value keeps it


def test_serve_on_a_port_in_use_is_one_line(fs: Run, applied: FeatureStore) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = fs("serve", "--host", "127.0.0.1", "--port", port, code=1).stderr
    assert err == f"error: port {port} on 127.0.0.1 is in use; pick another with --port\n"


def _whole(out: str, *words: str) -> None:
    """Each word shows whole on one line, and no line passes 80 columns."""
    assert max(len(line) for line in out.splitlines()) <= 80, out
    for word in words:
        assert re.search(rf"(?<![\w:-]){re.escape(word)}(?![\w:-])", out), (word, out)


def test_names_and_times_never_wrap_at_80_columns(fs: Run, applied: FeatureStore) -> None:
    views = fs("list", "views").stdout
    _whole(views, "driver_stats_push_source", "driver_hourly_stats", "conv_rate_plus_val")
    branch = "experiment-with-a-long-name"
    applied.repository.branch(branch).create("main")
    applied.ingest("driver_stats", _rows(1001, 0.25), branch=branch)
    applied.commit("a row", branch=branch)
    fs("materialize", (NOW - timedelta(days=1)).isoformat(), "now", "--ref", branch)
    (row,) = [r for r in json.loads(fs("status", "--json").stdout) if r["namespace"] == branch]
    watermark = row["watermark"]
    shown = datetime.fromisoformat(watermark).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    _whole(fs("status").stdout, shown, branch, "driver_hourly_stats")


def test_a_table_too_narrow_for_its_names_is_shown_a_record_at_a_time() -> None:
    names = ["a_feature_view_with_a_long_name", "another_rather_long_source_name"]
    table = columns_table("Views", "view", "entities", "features", "reads")
    table.add_row(names[0], "driver_and_customer", "conv_rate_and_more", names[1])
    console = Console(width=80, record=True, color_system=None)
    laid_out = fit_words(table, 80)
    assert isinstance(laid_out, Table) and laid_out is not table
    console.print(laid_out)
    _whole(console.export_text(), *names, "driver_and_customer", "conv_rate_and_more")


def test_apply_names_the_staged_data_it_also_commits(fs: Run, applied: FeatureStore) -> None:
    applied.ingest("driver_stats", _rows(1001, 0.5))  # staged, not committed
    staged = list(applied.repository.branch("main").uncommitted())
    assert staged and all(c.path.startswith("tables/driver_stats/") for c in staged)
    definitions = fs.project / "definitions.py"
    definitions.write_text(
        definitions.read_text().replace("ttl=timedelta(days=1)", "ttl=timedelta(days=2)")
    )
    said = f"{len(staged)} staged change(s) under tables/driver_stats/"
    out = fs("apply").stdout
    assert f"Also committed {said}" in " ".join(out.split()), out
    (head,) = applied.repository.ref("main").log(1)
    assert f"also committed {said}" in head.message
    assert list(applied.repository.branch("main").uncommitted()) == []


def test_plain_wording_of_counts_sources_and_floats(fs: Run, applied: FeatureStore) -> None:
    sources = fs("list", "sources", env={"COLUMNS": "200"}).stdout
    assert "created created" not in sources
    assert "(event time event_timestamp; created time created)" in sources
    out = fs("sql", "select 1 as a", "--output", fs.project / "one.parquet").stdout
    assert "Wrote 1 row x 1 column to" in out
    assert text(12.0) == "12.0" and text(0.25) == "0.25" and text(1e20) == "1e+20"
    applied.push("driver_stats_push_source", _rows(1001, 0.0).to_pandas())
    table = fs("online", "-f", "conv_rate_plus_val:conv_rate_plus_val",
               "-e", "driver_id=1001,val_to_add=12").stdout  # fmt: skip
    assert re.search(r"(?<![\d.])12\.0(?![\d])", table), table


def test_ingest_and_sql_say_what_happened_to_a_table(fs: Run, applied: FeatureStore) -> None:
    empty = json.loads(fs("sql", "select count(*) as n from driver_stats", "--json").stdout)
    assert empty == [{"n": 0}]
    file = fs.project / "two.parquet"
    pq.write_table(pa.concat_tables([_rows(1001, 0.1), _rows(1002, 0.2)]), file)
    gone = fs("ingest", "driver_stats", file, "--mode", "delete").stdout
    assert "no row of driver_stats on main has the keys of the 2 rows in" in gone, gone
    assert "nothing was removed" in gone and "delete: 2 rows" not in gone
    fs("ingest", "driver_stats", file, "--commit")
    again = fs("ingest", "driver_stats", file, "--commit").stdout
    assert "Nothing to commit: main already holds these rows" in again and "allow" not in again
    removed = fs("ingest", "driver_stats", file, "--mode", "delete", "--commit").stdout
    assert "delete: removed 2 rows of driver_stats on main" in removed, removed
    left = json.loads(fs("sql", "select count(*) as n from driver_stats", "--json").stdout)
    assert left == [{"n": 0}]
    err = fs("sql", "select * from nope", code=1).stderr
    assert "no table named nope" in err and "driver_stats" in err and "pg_" not in err
