"""User SQL sees the tables it is given and nothing else of the machine (DuckDB's sandbox)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline import Engine, QueryError


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(threads=2, memory_limit="1GB")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Two table files, a Parquet file and a text secret outside them, a folder to write to."""
    inside = tmp_path / "objects"
    inside.mkdir()
    out = {
        "a": inside / "a.parquet",
        "b": inside / "b.parquet",
        "other": inside / "other.parquet",  # in the same folder, but no table's file
        "secret": tmp_path / "secret.txt",
        "outside": tmp_path / "outside.parquet",
        "drop": tmp_path / "drop",
    }
    pq.write_table(pa.table({"k": [1, 2, 3], "v": [10, 20, 30]}), out["a"])
    pq.write_table(pa.table({"k": [1, 3], "w": ["x", "z"]}), out["b"])
    pq.write_table(pa.table({"hidden": [42]}), out["other"])
    pq.write_table(pa.table({"hidden": [42]}), out["outside"])
    out["secret"].write_text("root:x:0:0:secret\n")
    out["drop"].mkdir()
    return out


def _tables(files: dict[str, Path]) -> dict[str, list[str]]:
    return {"a": [str(files["a"])], "b": [str(files["b"])]}


def test_tables_still_answer_joins_and_aggregates(engine: Engine, files: dict[str, Path]) -> None:
    out = engine.sql(
        "SELECT a.k, sum(v) AS s, any_value(w) AS w FROM a LEFT JOIN b USING (k) "
        "GROUP BY a.k ORDER BY a.k",
        _tables(files),
    )
    assert out.to_pylist() == [
        {"k": 1, "s": 10, "w": "x"},
        {"k": 2, "s": 20, "w": None},
        {"k": 3, "s": 30, "w": "z"},
    ]
    # a table's own file may be named too: it is the table
    own = engine.sql(f"SELECT count(*) AS n FROM read_parquet('{files['a']}')", _tables(files))
    assert own.column("n").to_pylist() == [3]


def _escapes(files: dict[str, Path]) -> list[str]:
    secret, outside, other, drop = files["secret"], files["outside"], files["other"], files["drop"]
    folder = files["a"].parent
    return [
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{secret}', header = false)",
        f"SELECT * FROM read_csv_auto('{secret}')",
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM read_blob('{secret}')",
        f"SELECT * FROM read_json('{secret}')",
        f"SELECT * FROM sniff_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM glob('{folder}/*')",
        f"SELECT * FROM read_parquet('{outside}')",
        f"SELECT * FROM read_parquet('{other}')",
        f"SELECT * FROM read_parquet('{folder}/*.parquet')",
        f"SELECT * FROM read_parquet('{files['a']}/../other.parquet')",
        f"SELECT * FROM read_parquet('file://{outside}')",
        f"SELECT * FROM parquet_metadata('{outside}')",
        f"SELECT * FROM parquet_schema('{other}')",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
        f"WITH x AS (SELECT * FROM read_text('{secret}')) SELECT * FROM x",
        f"SELECT (SELECT content FROM read_text('{secret}')) AS c",
        f"SELECT * FROM a WHERE k IN (SELECT length(content) FROM read_text('{secret}'))",
        f"COPY a TO '{drop}/a.csv'",
        f"COPY (SELECT * FROM a) TO '{drop}/a.parquet' (FORMAT parquet)",
        f"COPY a FROM '{secret}'",
        f"EXPORT DATABASE '{drop}/db'",
        f"ATTACH '{drop}/x.duckdb' AS x",
        "ATTACH ':memory:' AS m",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SET allowed_paths = ['/etc/passwd']",
        "SET allowed_directories = ['/']",
        "SET disabled_filesystems = ''",
        "SET temp_directory = '/tmp'",
        "SET threads = 1",
        "RESET ALL",
        "PRAGMA enable_profiling",
        f"PRAGMA profiling_output = '{drop}/p.json'",
        "PRAGMA version",
        "CALL pragma_version()",
        f"SELECT 1; SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM a; COPY a TO '{drop}/b.csv'",
        "CREATE TABLE t AS SELECT 1",
        "DROP VIEW a",
        "SELECT * FROM secret_frame",  # a Python variable: no replacement scans
        "SELEC",
    ]


def test_nothing_outside_the_tables_is_reachable(engine: Engine, files: dict[str, Path]) -> None:
    secret_frame = pa.table({"s": ["from python"]})  # noqa: F841  (what a scan would find)
    leaked = []
    for bad in _escapes(files):
        try:
            out = engine.sql(bad, _tables(files))
        except QueryError:
            continue
        leaked.append((bad, out.to_pylist()[:2]))
    assert leaked == []
    assert list(files["drop"].iterdir()) == []
    # and the sandbox of one query does not leak into the next
    assert engine.sql("SELECT count(*) AS n FROM b", _tables(files)).to_pylist() == [{"n": 2}]


def test_a_refusal_says_what_sql_may_read(engine: Engine, files: dict[str, Path]) -> None:
    with pytest.raises(QueryError, match="only the tables") as info:
        engine.sql(f"SELECT * FROM read_text('{files['secret']}')", _tables(files))
    assert "secret:" not in str(info.value)


def test_the_engine_reads_files_after_a_sandboxed_query(
    engine: Engine, files: dict[str, Path]
) -> None:
    """Other reads (joins, scans) keep working: the sandbox is the query's alone."""
    with pytest.raises(QueryError):
        engine.sql("SET enable_external_access = false", _tables(files))
    assert engine.sql("SELECT 1 AS x", {}).to_pylist() == [{"x": 1}]
    cur = engine.cursor()
    try:
        rows = cur.sql(f"SELECT hidden FROM read_parquet('{files['outside']}')").fetchall()
    finally:
        cur.close()
    assert rows == [(42,)]


def test_a_table_without_files_reads_as_empty_with_its_schema(
    engine: Engine, files: dict[str, Path]
) -> None:
    schema = pa.schema([("k", pa.int64()), ("t", pa.timestamp("us", tz="UTC"))])
    tables = {**_tables(files), "empty": []}
    out = engine.sql("SELECT count(*) AS n, max(k) AS top FROM empty", tables, {"empty": schema})
    assert out.to_pylist() == [{"n": 0, "top": None}]
    assert engine.sql("SELECT * FROM empty", tables, {"empty": schema}).schema.names == ["k", "t"]
    joined = engine.sql(
        "SELECT count(*) AS n FROM a LEFT JOIN empty USING (k)", tables, {"empty": schema}
    )
    assert joined.column("n").to_pylist() == [3]
    # the empty table is bound for this query only, and it reads no Python variable
    with pytest.raises(QueryError, match="no table named empty"):
        engine.sql("SELECT * FROM empty", tables)


def test_an_unknown_table_names_the_tables_there(engine: Engine, files: dict[str, Path]) -> None:
    with pytest.raises(QueryError) as caught:
        engine.sql("SELECT * FROM nope", _tables(files))
    message = str(caught.value)
    assert "no table named nope" in message and "(its tables: a, b)" in message
    assert "pg_" not in message and "Did you mean" not in message
