"""Content-addressed, immutable object storage: a local folder or any fsspec filesystem.

On S3 (``s3://bucket/prefix``, any S3-compatible server) an object is uploaded straight
to its content address in one PUT (or a multipart upload that is aborted on failure):
S3 makes an object visible whole or not at all, so a killed upload leaves nothing, and
no temporary key has to be moved (a move is a copy on S3). Listings are never cached,
so an object another process wrote or deleted is seen at once. Credentials and endpoint
come from ``options`` (fsspec's storage options; for S3 ``key``, ``secret``,
``endpoint_url``, ``region``) or the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import fsspec

from repos.errors import StorageError

_CHUNK = 1 << 20
_IN_MEMORY = 64 << 20
"""An upload up to this size is held in memory; a larger one in a local temporary file."""
_S3 = ("s3", "s3a")

Admit = Callable[[str], None]
"""Called with an object's checksum after it is hashed and before it lands (or is found
already there): the repository records its upload intent there, so GC keeps it."""


class ObjectStore(Protocol):
    """Where object bytes live, keyed by their sha256 hex digest."""

    location: str
    filesystem: fsspec.AbstractFileSystem | None
    """The fsspec filesystem that reads ``address()`` URLs; None: addresses are local paths."""

    def put_bytes(self, data: bytes, admit: Admit | None = None) -> tuple[str, int]: ...
    def put_stream(self, stream: BinaryIO, admit: Admit | None = None) -> tuple[str, int]: ...
    def get(self, checksum: str) -> bytes: ...
    def open(self, checksum: str) -> BinaryIO: ...
    def exists(self, checksum: str) -> bool: ...
    def address(self, checksum: str) -> str: ...
    def list(self, skip: AbstractSet[str] = ...) -> Iterator[tuple[str, int, float]]: ...
    def delete(self, checksum: str) -> None: ...
    def scratch(self) -> Path: ...
    def read_meta(self, name: str) -> bytes | None: ...
    def write_meta(self, name: str, data: bytes) -> None: ...
    def delete_meta(self, name: str) -> None: ...


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_dead_scratch(parent: Path, prefix: str) -> None:
    """Remove scratch folders under ``parent`` whose writer process no longer exists."""
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return
    for d in entries:
        if not d.name.startswith(prefix):
            continue
        pid = d.name[len(prefix) :].split("-", 1)[0]
        if pid.isascii() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _new_scratch(parent: Path, prefix: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    _sweep_dead_scratch(parent, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def _key(checksum: str) -> str:
    return f"objects/{checksum[:2]}/{checksum}"


class LocalObjectStore:
    """Objects as files ``objects/ab/<sha256>`` under a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self.filesystem: fsspec.AbstractFileSystem | None = None
        self._tmp = root / "tmp"
        self._dirs: set[Path] = set()

    def _mkdir(self, path: Path) -> None:
        if path not in self._dirs:
            path.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path)

    def _file(self, checksum: str) -> Path:
        return self.root / _key(checksum)

    def _install(self, tmp: Path, checksum: str) -> None:
        dest = self._file(checksum)
        if dest.exists():
            tmp.unlink()
            os.utime(dest)  # a re-upload refreshes the object for GC's retention
            return
        self._mkdir(dest.parent)
        try:
            os.replace(tmp, dest)
        except FileNotFoundError:  # the folder was removed behind our back
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)

    def put_bytes(self, data: bytes, admit: Admit | None = None) -> tuple[str, int]:
        checksum = hashlib.sha256(data).hexdigest()
        if admit is not None:
            admit(checksum)
        dest = self._file(checksum)
        if dest.exists():
            os.utime(dest)
            return checksum, len(data)
        self._mkdir(self._tmp)
        tmp = self._tmp / uuid.uuid4().hex
        tmp.write_bytes(data)
        self._install(tmp, checksum)
        return checksum, len(data)

    def put_stream(self, stream: BinaryIO, admit: Admit | None = None) -> tuple[str, int]:
        self._mkdir(self._tmp)
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            checksum = digest.hexdigest()
            if admit is not None:
                admit(checksum)
            self._install(tmp, checksum)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return checksum, size

    def get(self, checksum: str) -> bytes:
        return self._file(checksum).read_bytes()

    def open(self, checksum: str) -> BinaryIO:
        return open(self._file(checksum), "rb")

    def exists(self, checksum: str) -> bool:
        return self._file(checksum).exists()

    def address(self, checksum: str) -> str:
        return f"{self.location}/{_key(checksum)}"

    def list(self, skip: AbstractSet[str] = frozenset()) -> Iterator[tuple[str, int, float]]:
        """``(checksum, size, mtime)`` of every object not in ``skip`` (whose files are
        not even stat'ed: GC passes what it keeps, most of a store), then of temp files."""
        base = self.root / "objects"
        if not base.is_dir():
            return
        for sub in os.listdir(base):
            folder = os.path.join(base, sub)
            for name in set(os.listdir(folder)).difference(skip):
                try:
                    st = os.stat(os.path.join(folder, name))
                except FileNotFoundError:  # another GC removed it meanwhile
                    continue
                yield name, st.st_size, st.st_mtime
        if self._tmp.is_dir():  # temp files and folders of writers that died
            for f in self._tmp.iterdir():
                try:
                    st = f.stat()
                except FileNotFoundError:  # its writer finished meanwhile
                    continue
                yield "tmp/" + f.name, st.st_size, st.st_mtime

    def read_meta(self, name: str) -> bytes | None:
        """A small named file beside the objects (the repository marker), or None."""
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_meta(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        os.replace(tmp, self.root / name)

    def delete_meta(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def scratch(self) -> Path:
        """A new local folder for a writer's temporary files, inside the storage: the
        writer removes it; a dead writer's folder is removed by the next writer or by GC."""
        return _new_scratch(self._tmp, "scratch-")

    def delete(self, checksum: str) -> None:
        if checksum.startswith("tmp/"):
            target = self._tmp / checksum[4:]
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        else:
            self._file(checksum).unlink(missing_ok=True)


def fsspec_options(protocol: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """fsspec's keyword arguments for ``protocol`` from storage ``options``.

    For S3, ``endpoint_url`` and ``region`` go where s3fs wants them (its botocore client's
    arguments); everything else passes through. Listings are never cached.
    """
    out: dict[str, Any] = dict(options or {})
    if protocol in _S3:
        client = dict(out.pop("client_kwargs", None) or {})
        endpoint = out.pop("endpoint_url", None)
        region = out.pop("region", None)
        if endpoint:
            client["endpoint_url"] = endpoint
        if region:
            client["region_name"] = region
        out.setdefault("default_block_size", _READ_BLOCK)
        # fsspec shares one filesystem between equal arguments, whatever the environment:
        # the AWS variables' endpoint and key become arguments, so that stores configured
        # by different variables never share a client.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint and "endpoint_url" not in client:
            client["endpoint_url"] = endpoint
        if client:
            out["client_kwargs"] = client
        if "key" not in out and os.environ.get("AWS_ACCESS_KEY_ID"):
            out["key"] = os.environ["AWS_ACCESS_KEY_ID"]
            out.setdefault("secret", os.environ.get("AWS_SECRET_ACCESS_KEY"))
    out["use_listings_cache"] = False
    return out


_READ_BLOCK = 4 << 20
"""Bytes one ranged GET of an S3 object fetches (s3fs reads ahead by this much)."""


def _botocore_failure(e: Exception) -> str | None:
    """``"connect"``, ``"credentials"`` or ``"other"`` for an error of botocore (what s3fs
    raises for an unreachable endpoint or missing credentials), else None. botocore is
    looked up, never imported: if it is not loaded, the error is not one of its own."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None or not isinstance(e, exceptions.BotoCoreError):
        return None
    if isinstance(e, exceptions.ConnectionError | exceptions.HTTPClientError):
        return "connect"
    if isinstance(e, exceptions.NoCredentialsError | exceptions.PartialCredentialsError):
        return "credentials"
    return "other"


_CREDENTIALS = (
    "check the credentials (storage_options key / secret, or AWS_ACCESS_KEY_ID / "
    "AWS_SECRET_ACCESS_KEY) and that they may read and write there"
)


@contextlib.contextmanager
def _failures(action: str, where: str, endpoint: str | None = None) -> Iterator[None]:
    """Storage failures as a ``StorageError`` saying what was refused and what to check;
    a missing object stays a ``FileNotFoundError`` (callers tell absent from failing).
    ``endpoint``: the server the storage is reached at, named when it cannot be reached."""
    at = f" at {endpoint}" if endpoint else ""
    try:
        yield
    except FileNotFoundError:
        raise
    except PermissionError as e:
        raise StorageError(f"the storage refused to {action} {where} ({e}): {_CREDENTIALS}") from e
    except Exception as e:
        kind = _botocore_failure(e)
        if kind is None and not isinstance(e, OSError):
            raise
        said = " ".join(str(e).split())
        if kind == "connect":
            raise StorageError(
                f"could not reach the storage{at} to {action} {where} ({said}): check that "
                "endpoint_url (storage_options, or AWS_ENDPOINT_URL) names an S3 server that "
                "is running and reachable from here"
            ) from e
        if kind == "credentials":
            raise StorageError(f"could not {action} {where} ({said}): {_CREDENTIALS}") from e
        raise StorageError(
            f"could not {action} {where}{at} ({said}): check that the storage answers "
            "(storage_options endpoint_url or AWS_ENDPOINT_URL) and try again"
        ) from e


class FsspecObjectStore:
    """Objects under any fsspec URL (``s3://bucket/repo``, ``memory://x``, ...); its
    failures are ``StorageError``s."""

    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        self.location = url.rstrip("/")
        self._protocol = url.split("://", 1)[0]
        given = fsspec_options(self._protocol, options)
        self.fs, self._root = fsspec.core.url_to_fs(self.location, **given)
        self._endpoint: str | None = None
        """The S3 server, named in the errors of a storage that cannot be reached."""
        if self._protocol in _S3:
            client = given.get("client_kwargs") or {}
            self._endpoint = client.get("endpoint_url") or "AWS's default endpoint"
        self.filesystem: fsspec.AbstractFileSystem | None = self.fs
        self._root = self._root.rstrip("/")
        self._atomic_put = self._protocol in _S3

    def _path(self, checksum: str) -> str:
        return f"{self._root}/{_key(checksum)}"

    def put_bytes(self, data: bytes, admit: Admit | None = None) -> tuple[str, int]:
        checksum = hashlib.sha256(data).hexdigest()
        if admit is not None:
            admit(checksum)
        dest = self._path(checksum)
        with _failures("upload an object to", self.location, self._endpoint):
            if not self.fs.exists(dest):
                self._upload(dest, data)
        return checksum, len(data)

    def put_stream(self, stream: BinaryIO, admit: Admit | None = None) -> tuple[str, int]:
        held = io.BytesIO()
        spill: Any = None  # a local temporary file once the stream outgrows memory
        try:
            digest = hashlib.sha256()
            size = 0
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if spill is None and size > _IN_MEMORY:
                    spill = tempfile.NamedTemporaryFile(prefix="repos-upload-")  # noqa: SIM115
                    spill.write(held.getbuffer())
                    held = io.BytesIO()
                (held if spill is None else spill).write(chunk)
            checksum = digest.hexdigest()
            if admit is not None:
                admit(checksum)
            dest = self._path(checksum)
            with _failures("upload an object to", self.location, self._endpoint):
                if not self.fs.exists(dest):
                    if spill is None:
                        self._upload(dest, held.getvalue())
                    else:
                        spill.flush()
                        self._upload_file(dest, spill.name)
        finally:
            if spill is not None:
                spill.close()
        return checksum, size

    def _upload(self, dest: str, data: bytes) -> None:
        """Make ``data`` the object at ``dest`` whole or not at all."""
        if self._atomic_put:
            self.fs.pipe_file(dest, data)
            return
        tmp = self._tmp_path()
        self.fs.pipe_file(tmp, data)
        self._install(tmp, dest)

    def _upload_file(self, dest: str, local: str) -> None:
        if self._atomic_put:
            self.fs.put_file(local, dest)
            return
        tmp = self._tmp_path()
        self.fs.put_file(local, tmp)
        self._install(tmp, dest)

    def _tmp_path(self) -> str:
        self.fs.makedirs(f"{self._root}/tmp", exist_ok=True)
        return f"{self._root}/tmp/{uuid.uuid4().hex}"

    def _install(self, tmp: str, dest: str) -> None:
        self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(tmp, dest)

    def get(self, checksum: str) -> bytes:
        with _failures("read an object of", self.location, self._endpoint):
            data: bytes = self.fs.cat_file(self._path(checksum))
        return data

    def open(self, checksum: str) -> BinaryIO:
        """The object as a file that reads by ranged requests (seek and read what you need)."""
        f: BinaryIO = self.fs.open(self._path(checksum), "rb")
        return f

    def exists(self, checksum: str) -> bool:
        with _failures("look for an object in", self.location, self._endpoint):
            return bool(self.fs.exists(self._path(checksum)))

    def address(self, checksum: str) -> str:
        return f"{self.location}/{_key(checksum)}"

    def list(self, skip: AbstractSet[str] = frozenset()) -> Iterator[tuple[str, int, float]]:
        """``(checksum, size, mtime)`` of every object not in ``skip``, from one listing."""
        base = f"{self._root}/objects"
        self.fs.invalidate_cache(base)
        try:
            with _failures("list the objects of", self.location, self._endpoint):
                found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        now = time.time()
        for path, info in found.items():
            if path.rsplit("/", 1)[-1] in skip:
                continue
            mtime = info.get("mtime") or info.get("created") or info.get("LastModified") or now
            if hasattr(mtime, "timestamp"):
                mtime = mtime.timestamp()
            yield path.rsplit("/", 1)[-1], int(info.get("size") or 0), float(mtime)

    def read_meta(self, name: str) -> bytes | None:
        """A small named object beside the objects (the repository marker), or None."""
        try:
            with _failures("read the repository marker of", self.location, self._endpoint):
                data: bytes = self.fs.cat_file(f"{self._root}/{name}")
        except FileNotFoundError:
            return None
        return data

    def write_meta(self, name: str, data: bytes) -> None:
        with _failures("write the repository marker of", self.location, self._endpoint):
            self.fs.pipe_file(f"{self._root}/{name}", data)

    def delete_meta(self, name: str) -> None:
        self._remove(f"{self._root}/{name}")

    def scratch(self) -> Path:
        """A new local folder for a writer's temporary files (the storage is remote): the
        writer removes it; a dead writer's folder is removed by the next writer."""
        return _new_scratch(Path(tempfile.gettempdir()), "repos-scratch-")

    def delete(self, checksum: str) -> None:
        self._remove(self._path(checksum))

    def _remove(self, path: str) -> None:
        with (
            contextlib.suppress(FileNotFoundError),
            _failures("delete from", self.location, self._endpoint),
        ):
            self.fs.rm_file(path)


def open_store(storage: str, options: Mapping[str, Any] | None = None) -> ObjectStore:
    """The object store for a local folder or an fsspec URL (``file://`` stays local);
    ``options`` are the URL's storage options (credentials, endpoint), see the module."""
    if "://" in storage and not storage.startswith("file://"):
        return FsspecObjectStore(storage, options)
    path = Path(storage.removeprefix("file://")).resolve()
    return LocalObjectStore(path)
