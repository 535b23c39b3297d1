"""A damaged table object read through TableStore is a CorruptTableError, and through
the facade a CorruptDataError; never a bare OSError or ArrowInvalid."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import repos
from featurestore import CorruptDataError
from featurestore.boundary import translated
from offline import CorruptTableError, TableStore


def _table(tmp_path: Path) -> tuple[TableStore, list[str]]:
    repo = repos.Repository.create(tmp_path / "repo")
    store = TableStore(repo)
    store.create_table("main", "t", pa.schema([("k", pa.int64())]), keys=["k"])
    store.write("main", "t", pa.table({"k": [1, 2, 3]}))
    repo.branch("main").commit("t")
    return store, store.files("main", "t")


def test_a_damaged_part_is_a_corrupt_table_error(tmp_path: Path) -> None:
    store, files = _table(tmp_path)
    Path(files[0]).write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(CorruptTableError, match="cannot be read") as info:
        store.read("main", "t")
    assert str(tmp_path) not in str(info.value)
    with pytest.raises(CorruptDataError), translated():
        store.read("main", "t")


def test_a_damaged_schema_is_a_corrupt_table_error(tmp_path: Path) -> None:
    store, _ = _table(tmp_path)
    obj = store.repo.branch("main").object("tables/t/_schema")
    Path(obj.stat().physical_address).write_bytes(b"\x00garbage")
    with pytest.raises(CorruptTableError, match="schema object of table 't'"):
        store.schema("main", "t")
    with pytest.raises(CorruptDataError), translated():
        store.read("main", "t")


def test_sql_over_other_tables_works_beside_a_damaged_schema(tmp_path: Path) -> None:
    from offline import Engine

    store, _ = _table(tmp_path)
    store.create_table("main", "u", pa.schema([("k", pa.int64())]), keys=["k"])
    store.write("main", "u", pa.table({"k": [7]}))
    obj = store.repo.branch("main").object("tables/t/_schema")
    Path(obj.stat().physical_address).write_bytes(b"\x00garbage")
    files = {n: store.files("main", n) for n in store.tables("main")}
    assert Engine().sql("SELECT k FROM u", files).column("k").to_pylist() == [7]
