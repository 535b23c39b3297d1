"""The web UI's fixtures: a small demo-like project served by uvicorn on a free port,
with reader / writer / admin keys, and one headless Chromium for the session.

The project has history worth looking at: a first load on ``main`` tagged ``v1``; a
branch ``dev`` that changes the on-demand function and adds fresh rows; a commit on
``main`` meanwhile, so the merge of ``dev`` is a real two-parent merge; a branch
``trends`` left unmerged (for the UI's merge action); a saved dataset built at ``v1``;
and ``main`` materialized.

Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright from PyPI: without it
the browser tests skip, except in CI (``CI`` set), where that fails.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from featurestore import FeatureStore
from featurestore.config import ApiKey, load_config
from featurestore.project import load_definitions
from featurestore.server import create_app
from tests.served_app import ServerThread

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "driver_stats"
CHROMIUM = "/usr/bin/chromium"
DRIVERS = 12
NOW = datetime.now(UTC).replace(microsecond=0)
READER, WRITER, ADMIN = "ui-reader-key-01", "ui-writer-key-01", "ui-admin-key-001"
DATASET = "driver_training_v1"
FIRST_DRIVER = 1001
"""The example generator's first driver id: every driver is in the saved dataset."""
ODFV_OLD = 'inputs["conv_rate"].astype("float64") + inputs["val_to_add"]'
ODFV_NEW = 'inputs["conv_rate"].astype("float64") * 2 + inputs["val_to_add"]'


def _generate(seed: int, days: int, end: datetime, rows: int = 20) -> pa.Table:
    spec = importlib.util.spec_from_file_location("_ui_driver_gen", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: pa.Table = module.generate(
        seed=seed, drivers=DRIVERS, days=days, rows_per_driver=rows, end=end
    )
    return table


@dataclass(frozen=True)
class UIProject:
    """The project's folder and the commits the tests look for."""

    root: Path
    prefix: str
    tag_commit: str
    dev_commit: str
    merge_commit: str


def _definitions(root: Path, changed: bool) -> list[object]:
    """The example's definitions, with the on-demand function changed if ``changed``."""
    folder = root / ("defs-changed" if changed else "defs")
    folder.mkdir(exist_ok=True)
    text = (EXAMPLE / "definitions.py").read_text()
    assert ODFV_OLD in text
    (folder / "definitions.py").write_text(text.replace(ODFV_OLD, ODFV_NEW) if changed else text)
    return load_definitions(folder)


def build_project(root: Path, redis_url: str) -> UIProject:
    """Write and fill the project (see the module docstring)."""
    prefix = f"ui{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "project": "driver_stats",
        "storage": "data",
        "online_store": {"type": "redis", "url": redis_url, "key_prefix": prefix},
    }
    (root / "featurestore.yaml").write_text(yaml.safe_dump(config))
    with FeatureStore.init(root, exist_ok=True) as store:
        store.apply(_definitions(root, changed=False))
        store.ingest("driver_stats", _generate(0, 3, NOW - timedelta(days=1)))
        tagged = store.commit("driver stats: first load")
        store.repository.tag("v1").create("main")

        store.repository.branch("dev").create("main")
        store.repository.branch("trends").create("main")
        store.apply(_definitions(root, changed=True), branch="dev")
        store.ingest("driver_stats", _generate(1, 1, NOW, rows=10), branch="dev")
        dev = store.commit("dev: conv_rate_plus_val doubles the rate; a fresh day", branch="dev")
        store.ingest("driver_stats", _generate(2, 1, NOW - timedelta(days=2), rows=4))
        store.commit("main: late rows for two days ago")
        merged = store.merge("dev", "main", message="merge dev: doubled conv_rate_plus_val")
        store.ingest("driver_stats", _generate(3, 1, NOW, rows=3), branch="trends")
        store.commit("trends: a few more rows", branch="trends")

        entities = pa.table(
            {
                "driver_id": pa.array(range(FIRST_DRIVER, FIRST_DRIVER + DRIVERS), pa.int64()),
                "event_timestamp": pa.array(
                    [NOW - timedelta(days=1)] * DRIVERS, pa.timestamp("us", tz="UTC")
                ),
            }
        )
        job = store.get_historical_features(
            entities, ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"], ref="v1"
        )
        store.create_saved_dataset(job, DATASET)
        store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
    return UIProject(root, prefix, tagged.id, dev.id, merged.id)


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UIProject]:
    """The demo-like project (its online keys are removed at the end)."""
    from tests.conftest import drop_prefix

    project = build_project(tmp_path_factory.mktemp("ui-project"), redis_url)
    yield project
    drop_prefix(redis_url, project.prefix)


@dataclass(frozen=True)
class UIServer:
    """A running server over the project, with keys for each role."""

    url: str
    store: FeatureStore
    project: UIProject
    app: Any


def keyed_store(root: Path) -> FeatureStore:
    """A store on ``root`` whose server takes the reader / writer / admin keys."""
    config = load_config(root)
    keys = (
        ApiKey(key=READER, role="reader"),
        ApiKey(key=WRITER, role="writer"),
        ApiKey(key=ADMIN, role="admin"),
    )
    server = config.server.model_copy(update={"api_keys": keys})
    return FeatureStore(config=config.model_copy(update={"server": server}))


@pytest.fixture(scope="session")
def ui_server(ui_project: UIProject) -> Iterator[UIServer]:
    """The keyed server over the project for the whole session."""
    store = keyed_store(ui_project.root)
    try:
        app = create_app(store)
        with ServerThread(app) as url:
            yield UIServer(url, store, ui_project, app)
    finally:
        store.close()


def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``FEATURESTORE_TEST_ARTIFACTS``/ui, else a temp folder."""
    base = os.environ.get("FEATURESTORE_TEST_ARTIFACTS")
    if base:
        path = Path(base) / "ui"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("ui-screenshots")


_WRITTEN: list[Path] = []
"""The screenshot folder of this run, once a test asked for it (named in the summary)."""


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = artifacts_dir(tmp_path_factory)
    _WRITTEN.append(path)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _WRITTEN:
        shots = sorted(p.name for p in path.glob("*.png"))
        terminalreporter.write_line(f"ui screenshots ({len(shots)}): {path}")


def _chromium_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: pip install -e '.[test]'"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM}: apt-get install -y chromium (as .ci/run does)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (Debian's, through Playwright)."""
    missing = _chromium_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()
