"""A streaming reader of lakeFS's multipart upload: one file part named ``content``.

lakeFS's generated SDK (``ObjectsApi.upload_object``) posts the object as
``multipart/form-data`` with a single part ``content``. This reads the body as it
arrives and writes that part's bytes to a file, holding at most one chunk and a
boundary's length in memory (no whole body in memory, no extra dependency).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import BinaryIO, Final

from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["boundary_of", "read_content_part"]

_BOUNDARY: Final = re.compile(r'boundary="?([^";]{1,200})"?', re.IGNORECASE)
_NAME: Final = re.compile(r'\bname="?([^";]*)"?', re.IGNORECASE)
MAX_HEADERS: Final = 16 << 10
FIELD: Final = "content"


def _bad(message: str) -> LakeFSError:
    return LakeFSError(400, f"bad multipart upload: {message}")


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; 400 without one."""
    m = _BOUNDARY.search(content_type)
    if m is None:
        raise _bad("the Content-Type names no boundary; send multipart/form-data; boundary=...")
    return m.group(1).encode("latin-1")


class _Buffer:
    """Bytes of the body not yet consumed, refilled from the stream."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._stream = stream
        self.data = b""
        self.done = False

    async def fill(self) -> bool:
        """Read one more chunk; False at the end of the body."""
        if self.done:
            return False
        async for chunk in self._stream:
            if chunk:
                self.data += chunk
                return True
        self.done = True
        return False


async def _until(buf: _Buffer, marker: bytes, limit: int, what: str) -> bytes:
    """The bytes before ``marker`` (consumed with it), at most ``limit`` of them."""
    while (i := buf.data.find(marker)) < 0:
        if len(buf.data) > limit or not await buf.fill():
            raise _bad(f"{what} is missing or too long")
    head, buf.data = buf.data[:i], buf.data[i + len(marker) :]
    return head


def _headers(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


async def read_content_part(stream: AsyncIterator[bytes], boundary: bytes, sink: BinaryIO) -> str:
    """Write the ``content`` part's bytes to ``sink``; its Content-Type is returned
    (``application/octet-stream`` when the part names none). 400 when the body is not
    multipart with a ``content`` part."""
    buf = _Buffer(stream)
    dash = b"--" + boundary
    await _until(buf, dash, MAX_HEADERS + len(dash), "the first boundary")
    delimiter = b"\r\n" + dash
    while True:
        while len(buf.data) < 2:
            if not await buf.fill():
                raise _bad("the body ends inside a boundary")
        if buf.data.startswith(b"--"):
            raise _bad(f"there is no part named {FIELD!r}; send the object as the {FIELD!r} field")
        if not buf.data.startswith(b"\r\n"):
            raise _bad("a boundary is not followed by a line break")
        buf.data = buf.data[2:]
        headers = _headers(await _until(buf, b"\r\n\r\n", MAX_HEADERS, "a part's headers"))
        name = _NAME.search(headers.get("content-disposition", ""))
        wanted = name is not None and name.group(1) == FIELD
        await _copy_part(buf, delimiter, sink if wanted else None)
        if wanted:
            return headers.get("content-type") or "application/octet-stream"


async def _copy_part(buf: _Buffer, delimiter: bytes, sink: BinaryIO | None) -> None:
    """Move a part's bytes up to ``delimiter`` into ``sink`` (or drop them)."""
    keep = len(delimiter) - 1
    while True:
        i = buf.data.find(delimiter)
        if i >= 0:
            if sink is not None:
                sink.write(buf.data[:i])
            buf.data = buf.data[i + len(delimiter) :]
            return
        if len(buf.data) > keep:
            if sink is not None:
                sink.write(buf.data[:-keep])
            buf.data = buf.data[-keep:]
        if not await buf.fill():
            raise _bad("the body ends before the part's closing boundary")
