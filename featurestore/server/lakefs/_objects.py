"""lakeFS object operations: upload, get, head, stat, list, delete, copy.

Every operation goes through the repository's own verbs (``StoredObject.upload``,
``stat``, ``reader``, ``Reference.objects``, ``Branch.delete_objects``), so staging,
commits, protected branches and GC behave as for any other writer.

- Upload (``uploadObject``): the body (raw, or the ``content`` part of a multipart
  form) streams to a file in the repository's scratch folder, is checked (feature
  store prefixes: ``_validation``), then staged; the file goes whatever happens, so a
  failed or refused upload leaves nothing staged and no temporary file.
  ``If-None-Match: *`` refuses (412) a path that holds an object, ``If-Match`` one
  whose ETag (its checksum) differs.
- Get (``getObject``) streams the object, or the one byte range ``Range`` asks for
  (206, read from storage at that offset), 416 past the end; ``headObject`` likewise
  without a body.
- ``statObject`` and ``listObjects`` (``prefix``, ``delimiter``: common prefixes,
  ``after``, ``amount``) answer ``ObjectStats``; content type, user metadata and
  upload time come from ``_attributes``.
- ``deleteObject`` / ``deleteObjects`` stage deletions (a missing path is no error);
  ``copyObject`` stages the source's bytes at the destination (checked like an upload).
"""

from __future__ import annotations

import email.utils
import fnmatch
import os
import re
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

import repos
from featurestore.server._listing import entries
from featurestore.server.lakefs import _validation
from featurestore.server.lakefs._attributes import (
    OCTET,
    Attributes,
    AttributeStore,
    default_content_type,
)
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError
from featurestore.server.lakefs._multipart import boundary_of, read_content_part
from featurestore.server.lakefs._paging import Page, Paging, paging

__all__ = ["OBJECT_ROUTES"]

T = TypeVar("T")
META_HEADER: Final = "x-lakefs-meta-"
MAX_DELETE: Final = 1000
"""The most paths one ``deleteObjects`` request takes (lakeFS's limit)."""
CHUNK: Final = 1 << 20
_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")


# -- helpers ---------------------------------------------------------------------------


async def _blocking(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
    """Run a call whose time grows with an object's size in a worker thread, with no
    request timeout (an upload of many gigabytes takes what it takes)."""
    return await anyio.to_thread.run_sync(partial(fn, *args), limiter=ctx.service.other_threads)


def _path(request: Request, name: str = "path") -> str:
    value = request.query_params.get(name)
    if not value:
        raise LakeFSError(400, f"the query parameter {name!r} is required: name the object's path")
    return value


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise LakeFSError(400, f"the query parameter {name!r} must be true or false, not {raw!r}")


def _attributes(ctx: Context) -> AttributeStore:
    return AttributeStore(ctx.store.config.project_dir)


def _address(repo: repos.Repository, info: repos.ObjectInfo) -> str:
    """Where the bytes live, without naming a local folder: ``local://objects/ab/<sha256>``
    for a local repository, the storage URL otherwise."""
    if repo.filesystem is None:
        return f"local://objects/{info.checksum[:2]}/{info.checksum}"
    return info.physical_address


def _stored_mtime(repo: repos.Repository, info: repos.ObjectInfo) -> int:
    if repo.filesystem is None:
        try:
            return int(os.stat(info.physical_address).st_mtime)
        except OSError:
            return 0
    return 0


def _stats(
    repo: repos.Repository,
    info: repos.ObjectInfo,
    attrs: Attributes | None,
    user_metadata: bool = True,
) -> dict[str, Any]:
    """lakeFS's ``ObjectStats`` of an object."""
    mtime = attrs.mtime if attrs is not None and attrs.mtime is not None else None
    return {
        "path": info.path,
        "path_type": "object",
        "physical_address": _address(repo, info),
        "checksum": info.checksum,
        "size_bytes": info.size,
        "mtime": mtime if mtime is not None else _stored_mtime(repo, info),
        "metadata": dict(attrs.metadata) if attrs is not None and user_metadata else {},
        "content_type": attrs.content_type
        if attrs is not None
        else default_content_type(info.path),
    }


def _common_prefix(path: str) -> dict[str, Any]:
    return {
        "path": path,
        "path_type": "common_prefix",
        "physical_address": "",
        "checksum": "",
        "mtime": 0,
    }


def _etag(value: str) -> str:
    return value.strip().removeprefix("W/").strip('"')


def _user_metadata(request: Request) -> dict[str, str]:
    return {
        k[len(META_HEADER) :]: v
        for k, v in request.headers.items()
        if k.startswith(META_HEADER) and len(k) > len(META_HEADER)
    }


def _find(ref: repos.Reference, path: str) -> repos.ObjectInfo | None:
    obj = ref.object(path)
    try:
        return obj.stat()
    except repos.NotFoundError:
        if not obj.exists():
            ref.resolve()  # an unknown ref is a 404 of its own
            return None
        raise


def _branch(repo: repos.Repository, name: str) -> repos.Branch:
    """The branch ``name``; 404 unless it exists (a tag or commit: 403, read-only)."""
    if name not in {b.id for b in repo.branches()}:
        try:
            repo.ref(name).resolve()
        except repos.NotFoundError:
            raise LakeFSError(404, f"branch not found: {name!r}") from None
        raise LakeFSError(403, f"{name!r} is not a branch: write objects through a branch")
    return repo.branch(name)


def _preconditions(
    branch: repos.Branch, path: str, if_none_match: str | None, if_match: str | None
) -> None:
    if if_none_match is None and if_match is None:
        return
    found = _find(branch, path)
    if if_none_match is not None and found is not None:
        raise LakeFSError(412, f"an object already exists at {path!r} (If-None-Match: *)")
    if if_match is not None and (found is None or found.checksum != _etag(if_match)):
        raise LakeFSError(
            412,
            f"the object at {path!r} does not match the ETag of If-Match: "
            "stat it again and retry with its current checksum",
        )


def _check_writable(
    repo: repos.Repository, name: str, path: str, if_none_match: str | None, if_match: str | None
) -> repos.Branch:
    branch = _branch(repo, name)
    branch.object(path)  # a bad path is a 400 before the body is read
    if any(fnmatch.fnmatchcase(name, p) for p in repo.protected_patterns()):
        raise LakeFSError(
            403, f"branch {name!r} is protected: write on another branch and merge it in"
        )
    _preconditions(branch, path, if_none_match, if_match)
    return branch


# -- upload --------------------------------------------------------------------------


async def _receive(request: Request, file: Path) -> str:
    """Write the request's object to ``file``; its content type is returned."""
    declared = request.headers.get("content-type") or ""
    media = declared.partition(";")[0].strip().lower()
    with open(file, "wb") as sink:
        if media == "multipart/form-data":
            return await read_content_part(request.stream(), boundary_of(declared), sink)
        async for chunk in request.stream():
            sink.write(chunk)
    return declared.strip() or OCTET


def _read(file: Path) -> BinaryIO:
    return open(file, "rb")


def _stage_file(
    ctx: Context,
    branch: repos.Branch,
    path: str,
    file: Path,
    content_type: str,
    metadata: dict[str, str],
    if_none_match: str | None,
    if_match: str | None,
) -> dict[str, Any]:
    repo = branch.repository
    _validation.check_write(branch, path, partial(_read, file))
    _preconditions(branch, path, if_none_match, if_match)
    info = branch.object(path).upload(file)
    attrs = _attributes(ctx).record(path, info.checksum, content_type, metadata)
    return _stats(repo, info, attrs)


async def _upload(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    path = _path(request)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise LakeFSError(400, "If-None-Match takes only '*' (upload only if no object is there)")
    if_match = request.headers.get("if-match")
    branch = await ctx.call(
        _check_writable, repo, request.path_params["branch"], path, if_none_match, if_match
    )
    folder = await ctx.call(repo.scratch)
    try:
        file = folder / "upload"
        content_type = await _receive(request, file)
        stats = await _blocking(
            ctx,
            _stage_file,
            ctx,
            branch,
            path,
            file,
            content_type,
            _user_metadata(request),
            if_none_match,
            if_match,
        )
    finally:
        await anyio.to_thread.run_sync(partial(shutil.rmtree, folder, ignore_errors=True))
    return json_response(stats, 201)


# -- get, head, stat ---------------------------------------------------------------------


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes ``header`` asks for; None: the whole object."""
    if header is None or not header.strip():
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise LakeFSError(
            400, f"unsupported Range {header[:100]!r}: give one range, like bytes=0-1023"
        )
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


class _Unsatisfiable(LakeFSError):
    def __init__(self, size: int) -> None:
        super().__init__(416, f"the requested range is outside the object's {size} bytes")
        self.size = size


def _unsatisfiable(size: int) -> _Unsatisfiable:
    return _Unsatisfiable(size)


def _headers(info: repos.ObjectInfo, stats: dict[str, Any]) -> dict[str, str]:
    return {
        "ETag": f'"{info.checksum}"',
        "Last-Modified": email.utils.formatdate(stats["mtime"], usegmt=True),
        "Accept-Ranges": "bytes",
    }


def _chunks(reader: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        reader.seek(start)
        left = length
        while left > 0:
            data = reader.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        reader.close()


def _open(
    ctx: Context, repo: repos.Repository, ref: str, path: str
) -> tuple[repos.ObjectInfo, dict[str, Any], BinaryIO]:
    obj = repo.ref(ref).object(path)
    info = obj.stat()
    attrs = _attributes(ctx).get([(info.path, info.checksum)]).get((info.path, info.checksum))
    return info, _stats(repo, info, attrs), obj.reader()


def _stat_one(
    ctx: Context, repo: repos.Repository, ref: str, path: str
) -> tuple[repos.ObjectInfo, dict[str, Any]]:
    info = repo.ref(ref).object(path).stat()
    attrs = _attributes(ctx).get([(info.path, info.checksum)]).get((info.path, info.checksum))
    return info, _stats(repo, info, attrs)


async def _get(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    path = _path(request)
    if _flag(request, "presign", False):
        raise LakeFSError(400, "pre-signed URLs are not supported here (pre_sign_support: false)")
    info, stats, reader = await ctx.call(_open, ctx, repo, request.path_params["ref"], path)
    try:
        headers = _headers(info, stats)
        wanted = request.headers.get("if-none-match")
        if wanted is not None and _etag(wanted) == info.checksum:
            reader.close()
            return Response(status_code=304, headers=headers)
        try:
            chosen = _byte_range(request.headers.get("range"), info.size)
        except _Unsatisfiable as e:
            reader.close()
            response = json_response({"message": e.message}, 416)
            response.headers["Content-Range"] = f"bytes */{e.size}"
            return response
        status, start, length = 200, 0, info.size
        if chosen is not None:
            status, start, length = 206, chosen[0], chosen[1] - chosen[0] + 1
            headers["Content-Range"] = f"bytes {chosen[0]}-{chosen[1]}/{info.size}"
        headers["Content-Length"] = str(length)
    except BaseException:
        reader.close()
        raise
    return StreamingResponse(
        _chunks(reader, start, length),
        status_code=status,
        headers=headers,
        media_type=stats["content_type"],
    )


async def _head(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    path = _path(request)
    try:
        info, stats = await ctx.call(_stat_one, ctx, repo, request.path_params["ref"], path)
    except repos.NotFoundError:
        return Response(status_code=404)
    headers = _headers(info, stats)
    headers["Content-Length"] = str(info.size)
    try:
        chosen = _byte_range(request.headers.get("range"), info.size)
    except _Unsatisfiable as e:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{e.size}"})
    status = 200
    if chosen is not None:
        status = 206
        headers["Content-Range"] = f"bytes {chosen[0]}-{chosen[1]}/{info.size}"
        headers["Content-Length"] = str(chosen[1] - chosen[0] + 1)
    return Response(status_code=status, headers=headers, media_type=stats["content_type"])


async def _stat(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    path = _path(request)
    if _flag(request, "presign", False):
        raise LakeFSError(400, "pre-signed URLs are not supported here (pre_sign_support: false)")
    user_metadata = _flag(request, "user_metadata", True)
    _, stats = await ctx.call(_stat_one, ctx, repo, request.path_params["ref"], path)
    if not user_metadata:
        stats["metadata"] = {}
    return json_response(stats)


# -- list ---------------------------------------------------------------------------


def _list(
    ctx: Context, repo: repos.Repository, ref: str, ask: Paging, delimiter: str, user_metadata: bool
) -> dict[str, Any]:
    chosen: list[repos.ObjectInfo | str] = []
    more = False
    last = ""
    for entry in entries(repo.ref(ref), ask.prefix, delimiter, ask.after):
        if len(chosen) == ask.amount:
            more = True
            break
        chosen.append(entry)
        last = entry if isinstance(entry, str) else entry.path
    objects = [c for c in chosen if isinstance(c, repos.ObjectInfo)]
    found = _attributes(ctx).get((o.path, o.checksum) for o in objects)
    results = [
        _common_prefix(c)
        if isinstance(c, str)
        else _stats(repo, c, found.get((c.path, c.checksum)), user_metadata)
        for c in chosen
    ]
    return Page(results, more, last if more else "").body()


async def _ls(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    ask = paging(request)
    if _flag(request, "presign", False):
        raise LakeFSError(400, "pre-signed URLs are not supported here (pre_sign_support: false)")
    delimiter = request.query_params.get("delimiter", "")
    user_metadata = _flag(request, "user_metadata", True)
    body = await ctx.call(
        _list, ctx, repo, request.path_params["ref"], ask, delimiter, user_metadata
    )
    return json_response(body)


# -- delete --------------------------------------------------------------------------


def _delete_paths(repo: repos.Repository, name: str, paths: list[str]) -> None:
    branch = _branch(repo, name)
    _validation.check_deletes(branch, paths)
    branch.delete_objects(paths)


async def _delete(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    path = _path(request)
    await ctx.call(_delete_paths, repo, request.path_params["branch"], [path])
    return Response(status_code=204)


def _delete_many(repo: repos.Repository, name: str, paths: list[str]) -> list[dict[str, Any]]:
    branch = _branch(repo, name)
    good: list[str] = []
    errors: list[dict[str, Any]] = []
    for p in paths:
        try:
            branch.object(p)
        except repos.InvalidNameError as e:
            errors.append({"status_code": 400, "message": str(e), "path": p})
        else:
            good.append(p)
    if good:
        _validation.check_deletes(branch, good)
        branch.delete_objects(good)
    return errors


async def _delete_objects(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    body = await ctx.body(request)
    paths = body.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise LakeFSError(400, 'the body must be {"paths": [...]}, a list of object paths')
    if len(paths) > MAX_DELETE:
        raise LakeFSError(400, f"{len(paths)} paths given: delete at most {MAX_DELETE} per request")
    errors = await ctx.call(_delete_many, repo, request.path_params["branch"], paths)
    return json_response({"errors": errors})


# -- copy ----------------------------------------------------------------------------


def _copy(
    ctx: Context,
    repo: repos.Repository,
    name: str,
    dest: str,
    src_ref: str,
    src_path: str,
) -> dict[str, Any]:
    branch = _check_writable(repo, name, dest, None, None)
    source = repo.ref(src_ref or name).object(src_path)
    info = source.stat()
    store = _attributes(ctx)
    attrs = store.get([(info.path, info.checksum)]).get((info.path, info.checksum))
    _validation.check_write(branch, dest, source.reader)
    with source.reader() as f:
        new = branch.object(dest).upload(f)
    kept = store.record(
        dest,
        new.checksum,
        attrs.content_type if attrs is not None else default_content_type(dest),
        attrs.metadata if attrs is not None else {},
    )
    return _stats(repo, new, kept)


async def _copy_object(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    dest = _path(request, "dest_path")
    body = await ctx.body(request)
    src_path = body.get("src_path")
    src_ref = body.get("src_ref") or ""
    if not isinstance(src_path, str) or not src_path:
        raise LakeFSError(400, "src_path is required: name the object to copy")
    if not isinstance(src_ref, str):
        raise LakeFSError(400, "src_ref must be a ref (a branch, tag or commit id)")
    stats = await _blocking(
        ctx, _copy, ctx, repo, request.path_params["branch"], dest, src_ref, src_path
    )
    return json_response(stats, 201)


_BRANCH_OBJECTS = "/repositories/{repository}/branches/{branch}/objects"
_REF_OBJECTS = "/repositories/{repository}/refs/{ref}/objects"

OBJECT_ROUTES: tuple[Op | BaseRoute, ...] = (
    Op(_BRANCH_OBJECTS, "POST", "uploadObject", "writer", _upload),
    Op(_BRANCH_OBJECTS, "DELETE", "deleteObject", "writer", _delete),
    Op(_BRANCH_OBJECTS + "/delete", "POST", "deleteObjects", "writer", _delete_objects),
    Op(_BRANCH_OBJECTS + "/copy", "POST", "copyObject", "writer", _copy_object),
    Op(_REF_OBJECTS, "HEAD", "headObject", "reader", _head),
    Op(_REF_OBJECTS, "GET", "getObject", "reader", _get),
    Op(_REF_OBJECTS + "/stat", "GET", "statObject", "reader", _stat),
    Op(_REF_OBJECTS + "/ls", "GET", "listObjects", "reader", _ls),
)
"""The object operations, as ``Op`` rows (paths relative to /api/v1); HEAD before GET,
which Starlette also answers HEAD with."""
