"""``featurestore ui``: the web UI of a project folder, read-only, on loopback.

The same app as ``featurestore serve`` (so the same pages and keys), with every action
refused. The port is bound before the URL is printed, so the URL printed answers.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from featurestore.errors import ConfigError

__all__ = ["serve_local"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({e.strerror}); pick another with --port "
            "(0: any free port)"
        ) from None
    sock.listen(128)
    return sock


def serve_local(
    project_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve ``project_dir``'s UI read-only until interrupted; ``announce`` gets its URL."""
    import uvicorn

    from featurestore import FeatureStore
    from featurestore.server import create_app
    from featurestore.server._serve import check_exposure, uvicorn_options
    from featurestore.server.ui import read_only

    store = FeatureStore(repo_path=project_dir)
    try:
        check_exposure(store.config, host, allow_public_without_keys=False)
        app = read_only(create_app(store))
        sock = _bind(host, port)
        try:
            bound = sock.getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
                **uvicorn_options(store.config.server),
            )
            server = uvicorn.Server(config)
            announce(f"http://{shown}:{bound}/ui")
            server.run(sockets=[sock])
        finally:
            sock.close()
    finally:
        store.close()
