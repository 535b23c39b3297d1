"""The HTTP lookup service: Feast-shaped online lookups, pushes, materialization and
read-only versioning over Starlette, run by uvicorn.

    from featurestore.server import create_app, serve
    serve("path/to/project", port=6566, workers=2)
"""

from featurestore.server._app import create_app
from featurestore.server._errors import HTTPError
from featurestore.server._openapi import openapi_document
from featurestore.server._serve import app_factory, serve

__all__ = ["HTTPError", "app_factory", "create_app", "openapi_document", "serve"]
