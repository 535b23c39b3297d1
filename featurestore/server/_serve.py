"""Run the service with uvicorn: one process, or several workers from the project path.

A server with no API keys takes writes from anyone who can reach it, so ``serve``
binds beyond loopback without keys only when told to (``allow_public_without_keys``).
Connections that send their request headers too slowly are closed
(``server.header_timeout_s``); idle keep-alive connections close after 5 s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from featurestore.errors import ConfigError
from featurestore.server._app import create_app

if TYPE_CHECKING:
    from featurestore import FeatureStore
    from featurestore.config import ServerConfig, StoreConfig

__all__ = ["HeaderTimeoutProtocol", "app_factory", "serve", "uvicorn_options"]

PROJECT_ENV = "FEATURESTORE_SERVER_PROJECT"
KEEP_ALIVE_S = 5
log = logging.getLogger("featurestore.server")


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, closing a connection whose request headers do not all
    arrive within ``header_timeout_s`` of its first byte (or of the connection)."""

    header_timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if self._deadline is None and (cycle is None or cycle.response_complete):
            self._arm()  # the first bytes of a new request
        super().data_received(data)
        if self.cycle is not cycle:  # its headers are complete
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(server: ServerConfig) -> dict[str, Any]:
    """The uvicorn settings that bound how long a client may hold a connection."""
    HeaderTimeoutProtocol.header_timeout_s = server.header_timeout_s
    return {"http": HeaderTimeoutProtocol, "timeout_keep_alive": KEEP_ALIVE_S}


def app_factory() -> Starlette:
    """Build the app in a worker process from the project named in the environment."""
    from featurestore import FeatureStore

    store = FeatureStore(repo_path=os.environ.get(PROJECT_ENV, "."))
    uvicorn_options(store.config.server)  # this worker's header timeout
    return create_app(store, close_store=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(config: StoreConfig, host: str, allow_public_without_keys: bool) -> None:
    """Refuse to bind beyond loopback with no API keys, unless explicitly allowed."""
    if config.server.api_keys or is_loopback(host):
        return
    if not allow_public_without_keys:
        raise ConfigError(
            f"refusing to serve on {host} with no API keys: anyone who can reach it could "
            "push values that are then served, and read every feature. Set server.api_keys "
            "(or FEATURESTORE_API_KEYS), bind to 127.0.0.1, or pass "
            "--allow-public-without-keys to accept the risk"
        )
    log.warning(
        "SERVING ON %s WITH NO API KEYS: anyone who can reach this address can push values "
        "that are then served and read every feature; set server.api_keys to stop this",
        host,
    )


def serve(
    store_or_path: FeatureStore | str | Path,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    log_level: str = "info",
    *,
    allow_public_without_keys: bool = False,
) -> None:
    """Serve until interrupted; uvicorn drains open requests on SIGINT / SIGTERM.

    ``host`` and ``port`` default to the config's ``server`` section. A host beyond
    loopback with no API keys is refused (``ConfigError``) unless
    ``allow_public_without_keys``. With ``workers > 1`` each worker process opens the
    project itself; this process opens it first, so an embedded online server is
    started once and shared by every worker, and stopped when serving ends. Workers
    read the project's ``featurestore.yaml``: settings changed on a store passed in
    apply to one worker only.
    """
    import uvicorn

    from featurestore import FeatureStore
    from featurestore.config import load_config

    if workers < 1:
        raise ValueError(f"workers={workers}: give at least 1")
    given = isinstance(store_or_path, FeatureStore)
    config = (
        store_or_path.config
        if isinstance(store_or_path, FeatureStore)
        else load_config(Path(store_or_path).resolve())
    )
    bind = host or config.server.host
    check_exposure(config, bind, allow_public_without_keys)  # before anything starts
    store = (
        store_or_path if isinstance(store_or_path, FeatureStore) else FeatureStore(config=config)
    )
    common: dict[str, Any] = {
        "host": bind,
        "port": port or config.server.port,
        "log_level": log_level,
        "timeout_graceful_shutdown": 10,
        "access_log": False,
        **uvicorn_options(config.server),
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
