"""A real driver_stats project served over real HTTP by uvicorn on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import yaml

from featurestore import FeatureStore
from featurestore.config import load_config
from featurestore.project import load_definitions
from featurestore.server import create_app
from tests.served_app import ServerThread

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "driver_stats"
DRIVERS = 20
NOW = datetime.now(UTC).replace(microsecond=0)

READER, WRITER, ADMIN = "reader-key-0001", "writer-key-0001", "admin-key-00001"


def _generate() -> pa.Table:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_driver_gen", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: pa.Table = module.generate(seed=0, drivers=DRIVERS, days=3, end=NOW)
    return table


@dataclass
class Served:
    """A running server: its base URL and the store behind it."""

    url: str
    store: FeatureStore

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


_Thread = ServerThread


def definitions_text() -> str:
    """The example's definitions; its ``driver_hourly_stats`` is fed by the push source
    (as Feast's push-fed views are), so the push tests see their rows online."""
    text = (EXAMPLE / "definitions.py").read_text()
    assert "    source=driver_stats_push_source," in text
    return text


def _write_project(
    root: Path, redis_url: str, prefix: str, server: dict[str, Any] | None = None
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "definitions.py").write_text(definitions_text())
    config: dict[str, Any] = {
        "project": "driver_stats",
        "storage": "data",
        "online_store": {"type": "redis", "url": redis_url, "key_prefix": prefix},
    }
    if server:
        config["server"] = server
    (root / "featurestore.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="session")
def data() -> pa.Table:
    return _generate()


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, redis_url: str, data: pa.Table) -> Path:
    """A driver_stats project with one commit, tagged v1, materialized up to now."""
    root = tmp_path_factory.mktemp("driver_stats")
    _write_project(root, redis_url, f"srv{uuid.uuid4().hex[:8]}")
    with FeatureStore.init(root, exist_ok=True) as store:
        store.apply(load_definitions(root))
        store.ingest("driver_stats", data)
        store.commit("driver stats, first load")
        store.repository.tag("v1").create("main")
        store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
    return root


@pytest.fixture(scope="session")
def served(project: Path) -> Iterator[Served]:
    """The open server (no keys)."""
    store = FeatureStore(repo_path=project)
    with _Thread(create_app(store)) as url:
        yield Served(url, store)
    store.close()


def keyed_store(project: Path, **server: Any) -> FeatureStore:
    """A second store on the project with other server settings."""
    config = load_config(project)
    settings = config.server.model_copy(update=server)
    return FeatureStore(config=config.model_copy(update={"server": settings}))


@pytest.fixture(scope="session")
def served_keyed(project: Path) -> Iterator[Served]:
    """A server with reader / writer / admin keys and tight limits."""
    from featurestore.config import ApiKey

    store = keyed_store(
        project,
        api_keys=(
            ApiKey(key=READER, role="reader"),
            ApiKey(key=WRITER, role="writer"),
            ApiKey(key=ADMIN, role="admin"),
        ),
        max_entities_per_request=5,
        max_body_bytes=2_000,
    )
    with _Thread(create_app(store)) as url:
        yield Served(url, store)
    store.close()


@pytest.fixture(scope="session")
def serve_app() -> type[_Thread]:
    """Run any ASGI app on a free port: ``with serve_app(app) as url: ...``."""
    return _Thread
