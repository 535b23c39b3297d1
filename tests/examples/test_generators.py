"""The example data generators are seeded, deterministic and shaped as documented."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.compute as pc
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(example: str, module: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"_example_{example}_{module}", EXAMPLES / example / f"{module}.py"
    )
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture(scope="module")
def driver_gen() -> ModuleType:
    return _load("driver_stats", "generate")


@pytest.fixture(scope="module")
def fraud_gen() -> ModuleType:
    return _load("fraud", "generate")


def test_driver_stats_is_deterministic(driver_gen: ModuleType) -> None:
    a = driver_gen.generate(seed=3, drivers=20, days=10)
    b = driver_gen.generate(seed=3, drivers=20, days=10)
    c = driver_gen.generate(seed=4, drivers=20, days=10)
    assert a.equals(b)
    assert not a.equals(c)


def test_driver_stats_shape(driver_gen: ModuleType) -> None:
    table = driver_gen.generate(seed=0, drivers=50, days=30, rows_per_driver=100)
    assert table.schema.equals(driver_gen.SCHEMA)
    assert table.num_rows == 5000
    counts = table.group_by("driver_id").aggregate([("driver_id", "count")])
    assert counts.num_rows == 50
    assert sorted(counts.column("driver_id").to_pylist()) == list(range(1001, 1051))
    ties = table.group_by(["driver_id", "event_timestamp"]).aggregate(
        [("created", "count_distinct"), ("created", "count")]
    )
    tied = ties.filter(pc.field("created_count") > 1)
    assert tied.num_rows == 50  # 1% of 5000 rows
    assert tied.column("created_count_distinct").equals(tied.column("created_count"))
    end = pa.scalar(driver_gen.END, type=pa.timestamp("us", tz="UTC"))
    assert pc.all(pc.less(table.column("event_timestamp"), end)).as_py()
    assert pc.all(
        pc.greater_equal(table.column("created"), table.column("event_timestamp"))
    ).as_py()


def test_driver_entity_rows_are_seeded(driver_gen: ModuleType) -> None:
    table = driver_gen.generate(seed=1, drivers=10)
    rows = driver_gen.entity_rows(table, fraction=0.1, seed=1)
    assert rows.num_rows == 100
    assert rows.equals(driver_gen.entity_rows(table, fraction=0.1, seed=1))
    assert set(rows.column("driver_id").to_pylist()) <= set(table.column("driver_id").to_pylist())


def test_driver_stats_rejects_empty_sizes(driver_gen: ModuleType) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        driver_gen.generate(drivers=0)


def test_fraud_is_deterministic_and_labelled(fraud_gen: ModuleType) -> None:
    a = fraud_gen.generate(seed=7, cards=100, days=10)
    assert a.equals(fraud_gen.generate(seed=7, cards=100, days=10))
    assert not a.equals(fraud_gen.generate(seed=8, cards=100, days=10))
    assert a.schema.equals(fraud_gen.SCHEMA)
    assert a.num_rows == 100 * 50
    fraud = a.filter(a.column("is_fraud"))
    assert 0 < fraud.num_rows <= 8 * 2
    assert set(fraud.column("merchant_category").to_pylist()) == {"electronics"}
    assert pc.all(pc.greater(a.column("amount"), 0)).as_py()
    times = a.column("event_timestamp")
    assert pc.all(pc.less_equal(times[:-1], times[1:])).as_py()


def test_fraud_model_is_a_documented_logistic() -> None:
    model = _load("fraud", "model")
    quiet = model.score({})
    z = model.BIAS + model.WEIGHTS["amount_ratio_7d"] * model.DEFAULTS["amount_ratio_7d"]
    assert quiet == pytest.approx(1 / (1 + math.exp(-z)))
    burst = model.score({"txn_count_1h": 8, "amount_ratio_7d": 6.0, "log_amount": 6.0})
    assert 0 < quiet < 0.5 < burst < 1
    assert model.score({"amount_ratio_7d": None}) == quiet
    assert model.score({"amount_ratio_7d": float("nan")}) == quiet


@pytest.mark.parametrize("example", ["driver_stats", "fraud"])
def test_generator_command_takes_end_now_or_a_date(
    example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    import pyarrow.parquet as pq

    gen = _load(example, "generate")
    before = datetime.now(UTC).replace(microsecond=0)
    gen.main([str(tmp_path / "now.parquet"), "--end", "now", "--days", "2"])
    times = pq.read_table(tmp_path / "now.parquet").column("event_timestamp").to_pylist()
    assert before - timedelta(days=2) <= min(times) and max(times) <= datetime.now(UTC)
    gen.main([str(tmp_path / "iso.parquet"), "--end", "2024-03-01T12:00", "--seed", "3"])
    times = pq.read_table(tmp_path / "iso.parquet").column("event_timestamp").to_pylist()
    assert max(times) <= datetime(2024, 3, 1, 12, tzinfo=UTC)  # a naive time is UTC
    assert "iso.parquet" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        gen.main([str(tmp_path / "bad.parquet"), "--end", "yesterday"])
    assert "'yesterday' is not a time: use 'now' or an ISO 8601 date" in capsys.readouterr().err
    assert not (tmp_path / "bad.parquet").exists()


def test_fraud_entity_rows_are_transactions_to_score(fraud_gen: ModuleType) -> None:
    table = fraud_gen.generate(seed=2, cards=50, days=10)
    rows = fraud_gen.entity_rows(table, fraction=0.1, seed=2)
    assert rows.column_names == ["card_id", "transaction_id", "event_timestamp", "amount"]
    assert rows.num_rows == table.num_rows // 10
    assert rows.equals(fraud_gen.entity_rows(table, fraction=0.1, seed=2))
    by_id = {r["transaction_id"]: r for r in table.to_pylist()}
    for row in rows.to_pylist():
        source = by_id[row["transaction_id"]]
        assert (row["card_id"], row["event_timestamp"], row["amount"]) == (
            source["card_id"], source["event_timestamp"], source["amount"],
        )  # fmt: skip
