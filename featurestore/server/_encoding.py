"""JSON (orjson) and Arrow IPC bodies."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pyarrow as pa

__all__ = ["ARROW_STREAM", "JSON", "arrow_body", "dumps", "loads", "wants_arrow"]

JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"


def _default(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    """NaN and infinities as protobuf's JSON strings, as Feast writes them."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> bytes:
    """Encode ``value`` as JSON bytes; non-finite floats become strings."""
    try:
        encoded: bytes = orjson.dumps(value, default=_default)
        return encoded
    except TypeError:
        pass
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_default).encode()
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":"), default=_default).encode()


def loads(body: bytes) -> Any:
    """Decode a JSON request body; raises ValueError when it is not JSON."""
    return orjson.loads(body)


def wants_arrow(accept: str | None) -> bool:
    """Whether the client asked for an Arrow IPC stream."""
    return accept is not None and ARROW_STREAM in accept


def arrow_body(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body: bytes = sink.getvalue().to_pybytes()
    return body
