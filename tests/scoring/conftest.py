"""A driver_stats project with models in featurestore.yaml, served over real HTTP (the
server tests' project and uvicorn thread), materialized up to NOW."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import torch
import yaml

from featurestore import FeatureStore
from featurestore.project import load_definitions
from featurestore.server import create_app
from featurestore.server._scoring import Scoring
from tests.scoring import models
from tests.server.conftest import (
    NOW,
    READER,
    WRITER,
    Served,
    _generate,
    _Thread,
    _write_project,
    keyed_store,
)

SERVICE = "driver_activity"
M = "tests.scoring.models"
MODELS: dict[str, Any] = {
    "linear": {"entry_point": f"{M}:linear", "service": SERVICE, "max_wait_ms": 0},
    "scripted": {"path": "linear.pt", "service": SERVICE},
    "exported": {"path": "linear.pt2", "service": SERVICE},
    "batched": {"entry_point": f"{M}:gated", "service": SERVICE, "max_batch": 64},
    "slow": {
        "entry_point": f"{M}:slow",
        "service": SERVICE,
        "deadline_ms": 50,
        "fallback": "linear",
    },
    "slow_alone": {"entry_point": f"{M}:slow", "service": SERVICE, "deadline_ms": 50},
    "broken": {"entry_point": f"{M}:broken", "service": SERVICE, "fallback": "linear"},
    "wrong_shape": {"entry_point": f"{M}:wrong_shape", "service": SERVICE},
}


@pytest.fixture(scope="session")
def data() -> pa.Table:
    return _generate()


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, redis_url: str, data: pa.Table) -> Path:
    """driver_stats with one commit, materialized up to NOW, and the models above."""
    root = tmp_path_factory.mktemp("scoring")
    # a generous request timeout: the batching test holds its first request at a gate
    _write_project(root, redis_url, f"score{uuid.uuid4().hex[:8]}", {"request_timeout_s": 60.0})
    config = yaml.safe_load((root / "featurestore.yaml").read_text())
    config["models"] = MODELS
    (root / "featurestore.yaml").write_text(yaml.safe_dump(config))
    torch.jit.save(torch.jit.script(models.Linear()), str(root / "linear.pt"))
    rows = torch.export.Dim("rows", min=1)
    program = torch.export.export(
        models.Linear(), (torch.zeros(2, 4),), dynamic_shapes={"x": {0: rows}}
    )
    torch.export.save(program, str(root / "linear.pt2"))
    with FeatureStore.init(root, exist_ok=True) as store:
        store.apply(load_definitions(root))
        store.ingest("driver_stats", data)
        store.commit("driver stats, first load")
        store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
    return root


@pytest.fixture(scope="session")
def served_app(project: Path) -> Iterator[tuple[Served, Scoring]]:
    """The open server, and its models' state (the server runs in this process)."""
    store = FeatureStore(repo_path=project)
    app = create_app(store)
    with _Thread(app) as url:
        try:
            yield Served(url, store), app.state.service.scoring
        finally:  # free the model threads still waiting before the server stops
            models.slow_release.set()
            models.gated.open.set()
    store.close()


@pytest.fixture(scope="session")
def served(served_app: tuple[Served, Scoring]) -> Served:
    return served_app[0]


@pytest.fixture(scope="session")
def served_keyed(project: Path) -> Iterator[Served]:
    """Reader and writer keys, at most 5 entities a request."""
    from featurestore.config import ApiKey

    store = keyed_store(
        project,
        api_keys=(ApiKey(key=READER, role="reader"), ApiKey(key=WRITER, role="writer")),
        max_entities_per_request=5,
    )
    with _Thread(create_app(store)) as url:
        yield Served(url, store)
    store.close()
