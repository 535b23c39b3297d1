"""Run the service with uvicorn: one process, or several workers from the project path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from featurestore.server._app import create_app

if TYPE_CHECKING:
    from featurestore import FeatureStore

__all__ = ["app_factory", "serve"]

PROJECT_ENV = "FEATURESTORE_SERVER_PROJECT"


def app_factory() -> Starlette:
    """Build the app in a worker process from the project named in the environment."""
    from featurestore import FeatureStore

    store = FeatureStore(repo_path=os.environ.get(PROJECT_ENV, "."))
    return create_app(store, close_store=True)


def serve(
    store_or_path: FeatureStore | str | Path,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until interrupted; uvicorn drains open requests on SIGINT / SIGTERM.

    ``host`` and ``port`` default to the config's ``server`` section. With
    ``workers > 1`` each worker process opens the project itself; this process opens
    it first, so an embedded online server is started once and shared by every
    worker, and stopped when serving ends. Workers read the project's
    ``featurestore.yaml``: settings changed on a store passed in apply to one worker only.
    """
    import uvicorn

    from featurestore import FeatureStore

    if workers < 1:
        raise ValueError(f"workers={workers}: give at least 1")
    if isinstance(store_or_path, FeatureStore):
        store, given = store_or_path, True
    else:
        store, given = FeatureStore(repo_path=Path(store_or_path).resolve()), False
    config = store.config
    common: dict[str, Any] = {
        "host": host or config.server.host,
        "port": port or config.server.port,
        "log_level": log_level,
        "timeout_graceful_shutdown": 10,
        "access_log": False,
    }
    try:
        if workers == 1:
            uvicorn.run(create_app(store, close_store=not given), **common)
            return
        store.online_store.ping()  # start (or find) the online server before the workers do
        os.environ[PROJECT_ENV] = str(config.project_dir)
        uvicorn.run(
            "featurestore.server._serve:app_factory", factory=True, workers=workers, **common
        )
    finally:
        if not given:
            store.close()
