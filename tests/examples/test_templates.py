"""``featurestore init --template`` makes a working project, like ``feast init``: apply,
ingest, a training set and lookups work on it at once, with values inside the ttl."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import featurestore.cli.commands  # noqa: F401  (registers the commands)
from featurestore import FeatureStore, load_config
from featurestore.cli.app import app
from featurestore.errors import ConfigError
from featurestore.project import load_definitions
from featurestore.templates import TEMPLATES, create_from_template
from tests.conftest import drop_prefix

# what each template's lookup and training set must fill: (entity, features)
CHECKED = {
    "driver_stats": (
        "driver_id",
        ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"],
    ),
    "fraud": (
        "card_id",
        ["card_activity:amount_count_7d", "card_activity:amount_sum_7d"],
    ),
}


def _init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["init", *args])
    return result.exit_code, result.output


class _Stores:
    """Opens stores on one project with a Redis key prefix of their own; closes them."""

    def __init__(self, project: Path, redis_url: str) -> None:
        self.project = project
        self.redis_url = redis_url
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.opened: list[FeatureStore] = []

    def open(self) -> FeatureStore:
        config = load_config(self.project, env={"REDIS_URL": self.redis_url})
        online = config.online_store.model_copy(update={"key_prefix": self.prefix})
        store = FeatureStore(
            self.project, config=config.model_copy(update={"online_store": online})
        )
        self.opened.append(store)
        return store


@pytest.fixture
def stores(tmp_path: Path, redis_url: str) -> Iterator[_Stores]:
    made = _Stores(tmp_path / "project", redis_url)
    yield made
    for store in made.opened:
        store.close()
    drop_prefix(redis_url, made.prefix)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_template_project_works_at_once(template: str, stores: _Stores) -> None:
    project = stores.project
    before = datetime.now(UTC).replace(microsecond=0)
    code, output = _init("--template", template, str(project))
    assert code == 0, output
    chosen = TEMPLATES[template]
    for name in (*chosen.copied, "featurestore.yaml", chosen.data_file, chosen.entities_file):
        assert (project / name).is_file(), name
        assert name in output
    assert f"featurestore ingest {chosen.source} {project / chosen.data_file}" in output
    data = pq.read_table(project / chosen.data_file)
    last = max(data.column("event_timestamp").to_pylist())
    assert before - timedelta(minutes=5) <= last <= datetime.now(UTC), "data ends now"

    store = stores.open()
    store.apply(load_definitions(project), partial=False)
    store.ingest(chosen.source, project / chosen.data_file)
    store.commit("sample data")

    entity, features = CHECKED[template]
    entities = pd.read_parquet(project / chosen.entities_file)
    training = store.get_historical_features(entities, features).to_pandas()
    assert len(training) == len(entities)
    for ref in features:
        column = ref.split(":")[1]
        assert training[column].notna().all(), f"{ref} is null in the training set"

    now = datetime.now(UTC)
    store.materialize(None, now)
    keys = sorted(set(data.column(entity).to_pylist()))
    online = store.get_online_features(features, {entity: keys}).to_dict()
    assert online[entity] == keys
    for ref in features:
        values = online[ref.split(":")[1]]
        assert all(v is not None for v in values), f"{ref} online: {values}"


def test_driver_stats_service_with_request_data(
    stores: _Stores,
) -> None:
    project = stores.project
    create_from_template("driver_stats", project, project="drivers")
    store = stores.open()
    store.apply(load_definitions(project), partial=False)
    store.ingest("driver_stats", project / "driver_stats.parquet")
    store.commit("sample data")
    service = store.get_feature_service("driver_activity")
    entities = pd.read_parquet(project / "entities.parquet")
    training = store.get_historical_features(entities, service).to_pandas()
    expected = training["conv_rate"].astype("float64") + entities["val_to_add"]
    assert training["conv_rate_plus_val"].tolist() == pytest.approx(expected.tolist())


def test_fraud_labels_join_by_transaction(
    stores: _Stores,
) -> None:
    project = stores.project
    create_from_template("fraud", project, project="cards")
    store = stores.open()
    store.apply(load_definitions(project), partial=False)
    store.ingest("transactions", project / "transactions.parquet")
    store.commit("sample data")
    entities = pd.read_parquet(project / "entities.parquet")
    refs = ["transaction_labels:is_fraud", "fraud_scoring:fraud_score"]
    scored = store.get_historical_features(entities, refs).to_pandas()
    data = pq.read_table(project / "transactions.parquet").to_pandas()
    labels = data.set_index("transaction_id")["is_fraud"]
    assert scored["is_fraud"].tolist() == labels.loc[entities["transaction_id"]].tolist()
    assert scored["fraud_score"].between(0, 1).all()


def test_generated_data_ends_at_the_given_time(tmp_path: Path) -> None:
    end = datetime(2024, 3, 1, 12, tzinfo=UTC)
    create_from_template("fraud", tmp_path, project="cards", end=end)
    data = pq.read_table(tmp_path / "transactions.parquet")
    times = data.column("event_timestamp").to_pylist()
    assert end - timedelta(days=30) <= min(times) and max(times) <= end


def test_unknown_template_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    code, output = _init("--template", "nope", str(tmp_path / "p"))
    assert code == 1
    assert "unknown template 'nope'" in output and "driver_stats, fraud" in output
    assert not (tmp_path / "p").exists()


def test_template_refuses_a_folder_holding_its_files(tmp_path: Path) -> None:
    (tmp_path / "definitions.py").write_text("# mine\n")
    with pytest.raises(ConfigError, match=r"already holds definitions\.py"):
        create_from_template("driver_stats", tmp_path, project="p")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["definitions.py"]
    assert (tmp_path / "definitions.py").read_text() == "# mine\n"


def test_driver_stats_push_updates_the_view_online(stores: _Stores) -> None:
    project = stores.project
    create_from_template("driver_stats", project, project="drivers")
    store = stores.open()
    store.apply(load_definitions(project), partial=False)
    store.ingest("driver_stats", project / "driver_stats.parquet")
    store.commit("sample data")
    now = datetime.now(UTC).replace(microsecond=0)
    store.materialize(None, now)
    refs = ["driver_hourly_stats:avg_daily_trips"]
    before = store.get_online_features(refs, [{"driver_id": 1001}]).to_dict()["avg_daily_trips"]
    pushed = before[0] + 1
    fresh = pd.DataFrame(
        {"driver_id": [1001], "event_timestamp": [now], "created": [now],
         "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [pushed]}
    )  # fmt: skip
    store.push("driver_stats_push_source", fresh)
    after = store.get_online_features(refs, [{"driver_id": 1001}]).to_dict()
    assert after["avg_daily_trips"] == [pushed]
