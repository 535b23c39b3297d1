"""The object browser: a ref's paths as folders and objects (paged), one object with a
preview (a Parquet object's first rows, a text object's first bytes), never all of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from featurestore.boundary import translated
from featurestore.server._errors import HTTPError
from featurestore.server._listing import entries
from featurestore.server.ui._pages import Page, page

PREVIEW_ROWS = 20
PREVIEW_BYTES = 4096
PARQUET_MAGIC = b"PAR1"
ARROW_MESSAGE = b"\xff\xff\xff\xff"


@dataclass
class Entry:
    """A folder (no size: its objects are not walked, as in lakeFS's UI) or an object."""

    name: str
    path: str
    folder: bool
    size: int | None


def _check_prefix(prefix: str) -> str:
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise HTTPError(400, "bad_prefix", f"prefix {prefix!r}: give a path inside the repository")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


@page("/objects", "objects", nav="Objects", order=40)
def objects(p: Page) -> Response:
    """The folders and objects directly under ``prefix`` at ``ref``, ``limit`` per page."""
    prefix = _check_prefix(p.arg("prefix"))
    after = p.arg("after")
    limit = p.limit
    found: list[Entry] = []
    more = False
    p.commit  # noqa: B018  (a bad ref is a 404 page first)
    with translated():
        ref = p.store.repository.ref(p.ref)
        for entry in entries(ref, prefix, "/", after):
            if len(found) == limit:
                more = True
                break
            if isinstance(entry, str):
                found.append(Entry(entry[len(prefix) :], entry, True, None))
            else:
                found.append(Entry(entry.path[len(prefix) :], entry.path, False, entry.size))
    crumbs = []
    parts = [part for part in prefix.split("/") if part]
    for i, part in enumerate(parts):
        crumbs.append((part, "/".join(parts[: i + 1]) + "/"))
    return p.render(
        "objects.html",
        prefix=prefix,
        entries=found,
        more=more,
        next_after=found[-1].path if found else "",
        crumbs=crumbs,
    )


def _preview(reader: Any, size: int) -> tuple[str, Any]:
    """("parquet", (columns, rows, num_rows, schema)), ("schema", pa.Schema), ("text", str)
    or ("binary", "")."""
    head = reader.read(4)
    reader.seek(0)
    if head == PARQUET_MAGIC and size > 8:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(reader)
        batch = next(pf.iter_batches(batch_size=PREVIEW_ROWS), None)
        rows = batch.to_pylist() if batch is not None else []
        columns = pf.schema_arrow.names
        return "parquet", (columns, rows, pf.metadata.num_rows, pf.schema_arrow)
    if head == ARROW_MESSAGE and size <= 1_000_000:  # a table's schema (Arrow IPC)
        import pyarrow as pa

        try:
            schema = pa.ipc.read_schema(pa.py_buffer(reader.read()))
        except (pa.ArrowInvalid, OSError):
            reader.seek(0)
        else:
            return "schema", schema
    data = reader.read(PREVIEW_BYTES)
    try:
        return "text", data.decode()
    except UnicodeDecodeError:
        return "binary", ""


@page("/object", "object")
def object_page(p: Page) -> Response:
    """One object: its size and checksum, and a preview of its start."""
    path = p.arg("path")
    if not path:
        raise HTTPError(400, "bad_request", "give the object's path: /ui/object?path=...")
    p.commit  # noqa: B018
    with translated():
        ref = p.store.repository.ref(p.ref)
        info = ref.object(path).stat()
        with ref.object(path).reader() as reader:
            kind, preview = _preview(reader, info.size)
    folder = path.rpartition("/")[0]
    return p.render(
        "object.html",
        info=info,
        kind=kind,
        preview=preview,
        folder=folder + "/" if folder else "",
        truncated=kind == "text" and info.size > PREVIEW_BYTES,
    )
