"""The HTTP lookup service: Feast-shaped online lookups, pushes, materialization and
read-only versioning over Starlette, run by uvicorn; and an Arrow Flight server for
Feast's remote offline store.

    from featurestore.server import create_app, serve, serve_offline
    serve("path/to/project", port=6566, workers=2)
    serve_offline("path/to/project", port=8815)
"""

from typing import TYPE_CHECKING, Any

from featurestore.server._app import create_app
from featurestore.server._errors import HTTPError
from featurestore.server._openapi import openapi_document
from featurestore.server._serve import app_factory, serve

if TYPE_CHECKING:
    from featurestore.server._flight import OfflineServer, serve_offline

__all__ = [
    "HTTPError",
    "OfflineServer",
    "app_factory",
    "create_app",
    "openapi_document",
    "serve",
    "serve_offline",
]


def __getattr__(name: str) -> Any:
    """The Flight server's names, imported (with ``pyarrow.flight``) when first used."""
    if name in ("OfflineServer", "serve_offline"):
        from featurestore.server import _flight

        return getattr(_flight, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
