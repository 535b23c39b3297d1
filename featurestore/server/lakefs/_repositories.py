"""lakeFS repository operations over the project's one repository.

The repository is served under the project's name (``store.config.project``). A
create of that name answers 409 (it exists), as lakeFS does, so ``create(...,
exist_ok=True)`` works; a create of another name is refused (400: one project, one
repository). Deleting the project's repository over this API is refused (403): its
data and definitions are the project's; remove the project folder instead.

Branch protection rules are the repository's protected patterns (``featurestore
protect``): read by any key, replaced whole by an admin key, with lakeFS's ``ETag`` /
``If-Match`` guard against a concurrent change.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import repos
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError
from featurestore.server.lakefs._paging import page, paging

__all__ = ["ROUTES", "repository_json"]

_created: dict[str, int] = {}
_created_lock = threading.Lock()


def _creation_date(repo: repos.Repository) -> int:
    """When the repository was made (its first commit), in Unix seconds; found once."""
    with _created_lock:
        if repo.id not in _created:
            oldest = deque(repo.ref(repo.default_branch).log(first_parent=True), maxlen=1)
            _created[repo.id] = int(oldest[0].creation_date.timestamp()) if oldest else 0
        return _created[repo.id]


def repository_json(ctx: Context) -> dict[str, Any]:
    """lakeFS's ``Repository`` for the project's repository."""
    repo = ctx.store.repository
    location = ctx.store.config.storage_location
    return {
        "id": ctx.repository_name,
        "creation_date": _creation_date(repo),
        "default_branch": repo.default_branch,
        "storage_id": "",
        "storage_namespace": location if "://" in location else "local://",
        "read_only": False,
    }


async def _list(ctx: Context, request: Request) -> Response:
    search = request.query_params.get("search", "")
    names = [ctx.repository_name] if search in ctx.repository_name else []
    found = page(names, str, paging(request))
    results = [await ctx.call(repository_json, ctx) for _ in found.results]
    return json_response(found.body(results))


async def _create(ctx: Context, request: Request) -> Response:
    body = await ctx.body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise LakeFSError(400, "give the repository's name")
    if name == ctx.repository_name:
        raise LakeFSError(409, f"repository {name!r} already exists (the project's repository)")
    raise LakeFSError(
        400,
        f"cannot create repository {name!r}: this server serves one repository, "
        f"{ctx.repository_name!r} (its project); create another project with "
        "`featurestore init` and serve it",
    )


async def _get(ctx: Context, request: Request) -> Response:
    ctx.check_repository(request.path_params["repository"])
    return json_response(await ctx.call(repository_json, ctx))


async def _delete(ctx: Context, request: Request) -> Response:
    ctx.check_repository(request.path_params["repository"])
    raise LakeFSError(
        403,
        f"repository {ctx.repository_name!r} holds the project's data and definitions: it "
        "cannot be deleted over the lakeFS API; delete the project folder instead",
    )


async def _metadata(ctx: Context, request: Request) -> Response:
    ctx.check_repository(request.path_params["repository"])
    return json_response({})


def _rules_etag(patterns: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(patterns)).encode()).hexdigest()


def _get_rules(repo: repos.Repository) -> tuple[list[dict[str, str]], str]:
    patterns = repo.protected_patterns()
    return [{"pattern": p} for p in patterns], _rules_etag(patterns)


async def _protection(ctx: Context, request: Request) -> Response:
    rules, etag = await ctx.call(_get_rules, ctx.repository(request))
    response = json_response(rules)
    response.headers["ETag"] = f'"{etag}"'
    return response


def _patterns(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(
        isinstance(r, dict) and isinstance(r.get("pattern"), str) and r["pattern"] for r in body
    ):
        raise LakeFSError(400, 'the body must be a list of rules: [{"pattern": "main"}, ...]')
    return sorted({r["pattern"] for r in body})


def _set_rules(repo: repos.Repository, wanted: list[str], if_match: str | None) -> None:
    current = repo.protected_patterns()
    if if_match is not None and if_match.strip().strip('"') != _rules_etag(current):
        raise LakeFSError(
            412,
            "the branch protection rules changed since they were read (If-Match): read them "
            "again and retry",
        )
    for pattern in sorted(set(wanted) - set(current)):
        repo.protect_branch(pattern)
    for pattern in sorted(set(current) - set(wanted)):
        repo.unprotect_branch(pattern)


async def _set_protection(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    wanted = _patterns(await ctx.service.body(request))
    await ctx.call(_set_rules, repo, wanted, request.headers.get("if-match"))
    return Response(status_code=204)


_PROTECTION = "/repositories/{repository}/settings/branch_protection"

ROUTES: tuple[Op, ...] = (
    Op("/repositories", "GET", "listRepositories", "reader", _list),
    Op("/repositories", "POST", "createRepository", "admin", _create),
    Op("/repositories/{repository}", "GET", "getRepository", "reader", _get),
    Op("/repositories/{repository}", "DELETE", "deleteRepository", "admin", _delete),
    Op("/repositories/{repository}/metadata", "GET", "getRepositoryMetadata", "reader", _metadata),
    Op(_PROTECTION, "GET", "getBranchProtectionRules", "reader", _protection),
    Op(_PROTECTION, "PUT", "setBranchProtectionRules", "admin", _set_protection),
)
