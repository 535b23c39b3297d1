"""lakeFS operations that lakeFS's clients may call but this server does not serve.

Each is answered 501 (lakeFS's own status for an operation a deployment does not
implement) with a message saying why and what to do instead, rather than the 404 of an
unknown path, which the SDK would report as a missing object.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from featurestore.server.lakefs._endpoint import Context, Handler, Op
from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["ROUTES"]

_PRESIGN = (
    "pre-signed URLs are not supported here (pre_sign_support: false): upload through "
    "uploadObject (the SDK does when pre_sign is left unset)"
)
_IMPORT = (
    "imports are not supported (import_support: false): upload the objects, or write "
    "tables through the feature store's own API"
)
_METADATA = (
    "object metadata is set when an object is uploaded (x-lakefs-meta-* headers): "
    "upload the object again with the new metadata"
)
_REPO_METADATA = "repository metadata is not kept here: the repository is the project"
_LOGIN = "log in with an access key pair whose secret access key is one of the server's API keys"

_B = "/repositories/{repository}/branches/{branch}"

_TABLE: tuple[tuple[str, str, str, str], ...] = (
    (_B + "/staging/backing", "GET", "getPhysicalAddress", _PRESIGN),
    (_B + "/staging/backing", "PUT", "linkPhysicalAddress", _PRESIGN),
    (_B + "/staging/pmpu", "POST", "createPresignMultipartUpload", _PRESIGN),
    (_B + "/import", "POST", "importStart", _IMPORT),
    (_B + "/import", "GET", "importStatus", _IMPORT),
    (_B + "/import", "DELETE", "importCancel", _IMPORT),
    (_B + "/objects/stat/user_metadata", "PUT", "updateObjectUserMetadata", _METADATA),
    ("/repositories/{repository}/metadata", "POST", "setRepositoryMetadata", _REPO_METADATA),
    ("/repositories/{repository}/metadata", "DELETE", "deleteRepositoryMetadata", _REPO_METADATA),
    ("/sts/login", "POST", "stsLogin", _LOGIN),
    ("/auth/external/principal/login", "POST", "externalPrincipalLogin", _LOGIN),
)


def _refuse(name: str, reason: str) -> Handler:
    async def handler(ctx: Context, request: Request) -> Response:
        raise LakeFSError(501, f"{name} is not implemented by this server: {reason}")

    return handler


ROUTES: tuple[Op, ...] = tuple(
    Op(path, method, name, "open", _refuse(name, reason)) for path, method, name, reason in _TABLE
)
