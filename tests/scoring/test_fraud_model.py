"""The fraud template's torch MLP: trained on the sample data, saved, registered in
featurestore.yaml and served by POST /score/fraud_service like store.score offline and
online."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from featurestore import FeatureStore
from featurestore.project import load_definitions
from featurestore.server import create_app
from featurestore.templates import create_from_template
from tests.server.conftest import _Thread


def _mlp(project: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_fraud_mlp", project / "_mlp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fraud_mlp_scores_over_http_as_in_process(tmp_path: Path, redis_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    project = tmp_path / "cards"
    written = create_from_template("fraud", project, project="cards", end=now)
    assert project / "_mlp.py" in written
    config = yaml.safe_load((project / "featurestore.yaml").read_text())
    config["online_store"] = {"url": redis_url, "key_prefix": f"fraud{uuid.uuid4().hex[:8]}"}
    (project / "featurestore.yaml").write_text(yaml.safe_dump(config))
    names = {type(o).__name__ + ":" + getattr(o, "name", "") for o in load_definitions(project)}
    assert "FeatureService:fraud_service" in names  # _mlp.py is not loaded as definitions
    mlp = _mlp(project)
    entities = pq.read_table(project / "entities.parquet").to_pandas()
    with FeatureStore(project) as store:
        store.apply(load_definitions(project))
        store.ingest("transactions", pq.read_table(project / "transactions.parquet"))
        commit = store.commit("sample transactions").id
        served_at = now + timedelta(seconds=1)  # online windows hold events up to here
        store.materialize(now - timedelta(days=40), served_at)
        features, labels = mlp.training_set(store, entities)
        model = mlp.train(features, labels)
        scores = model(features).detach()
        assert scores[labels == 1].mean() > scores[labels == 0].mean()
        mlp.save(model, project / mlp.FILE, features.shape[1])
        mlp.register(project)
        assert yaml.safe_load((project / "featurestore.yaml").read_text())["models"] == {
            "fraud": {"path": "fraud_mlp.pt2", "service": "fraud_service"}
        }
        batch = store.score(model, entities, "fraud_service")
        assert batch.commits == (commit,) * len(entities)
        assert torch.allclose(batch.predictions, scores)
        rows = [{"card_id": 5012, "amount": 420.0}, {"card_id": -1, "amount": 5.0}]
        live = store.score(model, rows, "fraud_service", now=served_at)
    served = FeatureStore(project)
    try:
        with _Thread(create_app(served)) as url:
            import httpx

            answer = httpx.post(
                f"{url}/score/fraud_service",
                json={"entities": {"card_id": [5012, -1], "amount": [420.0, 5.0]}},
                timeout=30,
            ).json()
    finally:
        served.close()
    assert answer["model"] == "fraud" and answer["fallback"] is False
    assert answer["predictions"] == pytest.approx(live.tolist(), rel=1e-5)
    assert answer["commits"] == list(live.commits)
    assert answer["commits"][1] is None  # an unknown card: no stored values
