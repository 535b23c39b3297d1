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

    With ``workers > 1`` each worker process opens the project itself, so a store
    passed in is used only for its project folder.
    """
    import uvicorn

    from featurestore import FeatureStore

    if isinstance(store_or_path, FeatureStore):
        config = store_or_path.config
        path = config.project_dir
    else:
        path = Path(store_or_path).resolve()
        config = None
    if workers > 1 or config is None:
        os.environ[PROJECT_ENV] = str(path)
    if config is None:
        from featurestore.config import load_config

        config = load_config(path)
    host = host or config.server.host
    port = port or config.server.port
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "timeout_graceful_shutdown": 10,
        "access_log": False,
    }
    if workers > 1:
        uvicorn.run(
            "featurestore.server._serve:app_factory", factory=True, workers=workers, **common
        )
    elif isinstance(store_or_path, FeatureStore):
        uvicorn.run(create_app(store_or_path), **common)
    else:
        uvicorn.run(app_factory(), **common)
