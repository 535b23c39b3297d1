"""`RedisOnlineStore`: one hash per (prefix, table, key), monotonic writes by a Lua script.

Commands are packed into RESP by Arrow/NumPy for whole batches at once and pipelined
over one pooled connection, so neither writes nor reads pay Python work per value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis

from online._links import Link, LinkPool
from online.codec import PythonDecoder, TableDecoder, check_type, encode_column
from online.errors import CommandError, ConnectionFailedError, DecodeError, InvalidInputError
from online.store import COMMIT_COLUMN, EVENT_TS_COLUMN, ReadRequest, WriteResult

__all__ = ["PreparedRead", "RedisOnlineStore"]

TS_FIELD = b"__ts"
COMMIT_FIELD = b"__commit"

# KEYS: hashes. ARGV: ncols, column names..., commit ("" = none), ttl micros (0 = none),
# then per key: event micros, null mask ("" = no nulls, else "0"/"1" per column), values.
# Event times are compared as decimal strings, exactly: Lua numbers are doubles, which
# round integers beyond 2^53 (microseconds after 2255 or before 1685). A key with a ttl
# expires at the millisecond of event time + ttl (Redis keeps it through that millisecond);
# reads apply the exact cutoff.
WRITE_SCRIPT = b"""
local function newer(a, b)
  local na, nb = string.byte(a, 1) == 45, string.byte(b, 1) == 45
  if na ~= nb then
    return nb
  end
  if #a ~= #b then
    if na then
      return #a < #b
    end
    return #a > #b
  end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      if na then
        return x < y
      end
      return x > y
    end
  end
  return false
end
local n = tonumber(ARGV[1])
local commit = ARGV[n + 2]
local ttl = tonumber(ARGV[n + 3])
local stride = n + 2
local written, stale = 0, 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local off = n + 3 + (i - 1) * stride
  local ts = ARGV[off + 1]
  local cur = redis.call('HGET', key, '__ts')
  if cur and newer(cur, ts) then
    stale = stale + 1
  else
    local mask = ARGV[off + 2]
    local sets = {'__ts', ts}
    local dels = {}
    if commit ~= '' then
      sets[3] = '__commit'
      sets[4] = commit
    else
      dels[1] = '__commit'
    end
    for j = 1, n do
      if mask ~= '' and string.byte(mask, j) == 48 then
        dels[#dels + 1] = ARGV[1 + j]
      else
        sets[#sets + 1] = ARGV[1 + j]
        sets[#sets + 1] = ARGV[off + 2 + j]
      end
    end
    redis.call('HSET', key, unpack(sets))
    if cur and #dels > 0 then
      redis.call('HDEL', key, unpack(dels))
    end
    if ttl > 0 then
      local at = math.floor((tonumber(ts) + ttl) / 1000)
      redis.call('PEXPIREAT', key, string.format('%.0f', at))
    elseif cur then
      redis.call('PERSIST', key)
    end
    written = written + 1
  end
end
return {written, stale}
"""
WRITE_SHA = hashlib.sha1(WRITE_SCRIPT).hexdigest().encode()

_NAME = re.compile(r"[^:\s*?\[\]\\]+")
"""A key prefix or table name: matched whole (``fullmatch``), so no trailing newline."""
_ROWS_PER_CALL = 512
_ROWS_PER_BLOCK = 65_536
_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
_NULL_MASK = pa.scalar(b"$0\r\n\r\n", pa.large_binary())


def _lb(value: bytes) -> pa.Scalar:
    return pa.scalar(value, pa.large_binary())


_DOLLAR, _CRLF, _NOTHING = _lb(b"$"), _lb(b"\r\n"), _lb(b"")


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def pack(*args: bytes | str | int) -> bytes:
    """RESP encoding of one command."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        raw = a if isinstance(a, bytes) else str(a).encode()
        parts.append(_bulk(raw))
    return b"".join(parts)


def _bulk_array(arr: pa.Array) -> pa.Array:
    """Each value of a large_binary array (no nulls) as a RESP bulk string."""
    lengths = pc.binary_length(arr).cast(pa.string()).cast(pa.large_binary())
    return pc.binary_join_element_wise(_DOLLAR, lengths, _CRLF, arr, _CRLF, _NOTHING)


def _fixed_rows(matrix: np.ndarray) -> pa.Array:
    """Rows of a 2-D uint8 matrix as large_binary values."""
    rows, width = matrix.shape
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), rows, [None, pa.py_buffer(np.ascontiguousarray(matrix).tobytes())]
    )
    return fixed.cast(pa.large_binary())


def _spans(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return offsets, memoryview(bufs[2])


def _micros(event_ts: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(event_ts, pa.ChunkedArray):
        event_ts = event_ts.combine_chunks()
    t = event_ts.type
    if pa.types.is_timestamp(t):
        event_ts = event_ts.cast(pa.timestamp("us", tz="UTC")).view(pa.int64())
    elif pa.types.is_integer(t):
        event_ts = event_ts.cast(pa.int64())
    else:
        raise InvalidInputError(
            f"event_ts has type {t}; pass timestamp[us, UTC] or int64 microseconds since epoch"
        )
    if event_ts.null_count:
        raise InvalidInputError(
            f"event_ts has {event_ts.null_count} nulls; every row needs an event time"
        )
    if len(event_ts):
        bounds = pc.min_max(event_ts)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low < _MIN_MICROS or high > _MAX_MICROS:
            bad = low if low < _MIN_MICROS else high
            raise InvalidInputError(
                f"event_ts holds {bad} microseconds since 1970, outside the years 1-9999 that "
                "event times can have; fix those rows' event times"
            )
    return event_ts


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"{kind} {name!r} is not usable in a Redis key; use a name without ':', "
            "spaces or any of *?[]\\"
        )


def _where(kwargs: dict[str, Any]) -> str:
    """Where the server is, for messages: host:port or the socket path, never the
    URL (it may carry a password)."""
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _now_micros(now: datetime | None) -> int:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return int(now.timestamp() * 1_000_000)


_EVENT_TS_TYPE = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
"""The event times a write takes: those a Python datetime holds (years 1-9999)."""


def _event_time(t: int, table: str) -> datetime:
    """The stored event time ``t`` (microseconds) as a datetime, or a clear DecodeError."""
    try:
        return _EPOCH + timedelta(microseconds=t)
    except OverflowError:
        raise DecodeError(
            f"an event time stored in table {table!r} ({t} microseconds since 1970) is outside "
            "the years 1-9999 a Python datetime holds; read it with read() (Arrow), or rewrite "
            "that row with a representable event time"
        ) from None


class _ReadPlan:
    """What a read of one (table, schema) needs, computed once: command parts, decoder."""

    def __init__(self, prefix: bytes, schema: pa.Schema) -> None:
        fields = [TS_FIELD, COMMIT_FIELD]
        for field in schema:
            if field.name.startswith("__"):
                raise InvalidInputError(
                    f"column {field.name!r} is reserved; columns starting with '__' "
                    "cannot be stored or read"
                )
            fields.append(field.name.encode())
        self.prefix = prefix
        self.head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(fields) + 2)
        self.tail = b"".join(_bulk(f) for f in fields)
        self.decoder = TableDecoder(schema)
        self.py_decoder = PythonDecoder(schema)
        self.schema = pa.schema(
            [
                *schema,
                pa.field(EVENT_TS_COLUMN, _EVENT_TS_TYPE),
                pa.field(COMMIT_COLUMN, pa.string()),
            ],
            metadata=schema.metadata,
        )


def _reopened(url: str, options: dict[str, Any]) -> RedisOnlineStore:
    return RedisOnlineStore(url, **options)


class RedisOnlineStore:
    """The online store on Redis >= 7.0 or Valkey, at `url` (redis://, rediss://, unix://)."""

    max_script_keys = 1 << 30
    """How many entities one script call may touch (a cluster's calls stay in one slot)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "fs",
        socket_timeout: float = 5.0,
        max_connections: int = 64,
    ) -> None:
        _check_name("key_prefix", key_prefix)
        self.url = url
        self.key_prefix = key_prefix
        try:
            self._pool = redis.BlockingConnectionPool.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                max_connections=max_connections,
                timeout=socket_timeout,
            )
        except ValueError as e:
            raise InvalidInputError(
                f"bad Redis URL: {e}; use redis://host:port/db or unix:///path.sock"
            ) from e
        self.where = _where(self._pool.connection_kwargs)
        self._links = LinkPool(self._pool, max_connections, socket_timeout)
        self._script_loaded = False
        self._plans: dict[tuple[str, pa.Schema], _ReadPlan] = {}
        self._plans_by_id: dict[tuple[str, int], tuple[pa.Schema, _ReadPlan]] = {}
        self._derived: dict[str, RedisOnlineStore] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its settings (URL, prefix, timeouts): a copy opens its own
        connections where it is unpickled (a Spark executor writing a partition)."""
        options = {
            "key_prefix": self.key_prefix,
            "socket_timeout": self._links._timeout,
            "max_connections": self._links._size,
        }
        return (_reopened, (self.url, options))

    def with_prefix(self, key_prefix: str) -> RedisOnlineStore:
        """This store under another key prefix, sharing its connections.

        The result reads and writes ``{key_prefix}:{table}:{key}`` over the same pool, so a
        second prefix costs no connection; it is made once per prefix and kept. Closing
        either closes the shared connections (both reconnect if used again).
        """
        if key_prefix == self.key_prefix:
            return self
        derived = self._derived.get(key_prefix)
        if derived is None:
            _check_name("key_prefix", key_prefix)
            derived = object.__new__(RedisOnlineStore)
            derived.url = self.url
            derived.key_prefix = key_prefix
            derived._pool = self._pool
            derived.where = self.where
            derived._links = self._links
            derived._script_loaded = self._script_loaded
            derived._plans = {}
            derived._plans_by_id = {}
            derived._derived = self._derived
            if len(self._derived) > 1024:
                self._derived.clear()
            self._derived[key_prefix] = derived
        return derived

    # -- connection and I/O -------------------------------------------------

    def _connection_error(self, e: BaseException) -> ConnectionFailedError:
        return ConnectionFailedError(
            f"cannot talk to Redis at {self.where}: {e}. Check that the server runs and the "
            "URL is right (REDIS_URL or the online store config), then retry"
        )

    @contextmanager
    def _connection(self) -> Iterator[Link]:
        try:
            link = self._links.get()
        except _CONNECTION_ERRORS as e:
            raise self._connection_error(e) from e
        try:
            yield link
        except _CONNECTION_ERRORS as e:
            self._links.put(link, broken=True)
            raise self._connection_error(e) from e
        except BaseException:
            self._links.put(link, broken=True)
            raise
        self._links.put(link)

    def _exchange(self, commands: Iterable[bytes], replies: int) -> list[Any]:
        """One round trip: send every command, then read `replies` answers.

        Error replies come back as `redis.ResponseError` objects in their place.
        """
        with self._connection() as link:
            for command in commands:
                link.send(command)
            return link.read(replies)

    def _command(self, *args: bytes | str | int) -> Any:
        (reply,) = self._exchange([pack(*args)], 1)
        if isinstance(reply, redis.ResponseError):
            raise CommandError(f"Redis at {self.where} rejected {args[0]!r}: {reply}") from reply
        return reply

    # -- writes --------------------------------------------------------------

    def _table_prefix(self, table: str) -> bytes:
        _check_name("table", table)
        return f"{self.key_prefix}:{table}:".encode()

    def _entity_key(self, prefix: bytes, key: bytes) -> bytes:
        """The Redis key of encoded entity ``key`` under ``prefix`` (``{prefix}{key}``)."""
        return prefix + key

    def write(
        self,
        table: str,
        keys: Sequence[bytes],
        values: pa.RecordBatch | pa.Table,
        event_ts: pa.Array | pa.ChunkedArray,
        *,
        commit: str | None = None,
        ttl: timedelta | None = None,
    ) -> WriteResult:
        """Store one row per key unless the stored row is newer (equal times overwrite).

        With `ttl` the key expires after event time + ttl. Event times must lie in the
        years 1-9999 (what Python datetimes hold). Returns rows written and skipped.
        """
        prefix = self._table_prefix(table)
        tbl = pa.Table.from_batches([values]) if isinstance(values, pa.RecordBatch) else values
        n = tbl.num_rows
        if len(keys) != n or len(event_ts) != n:
            raise InvalidInputError(
                f"write to {table!r} got {len(keys)} keys, {n} rows and {len(event_ts)} event "
                "times; pass one key and one event time per row"
            )
        names = tbl.column_names
        for field in tbl.schema:
            if field.name.startswith("__") or not field.name:
                raise InvalidInputError(
                    f"column name {field.name!r} is reserved; rename columns starting with '__'"
                )
            check_type(field.type)
        if len(set(names)) != len(names):
            raise InvalidInputError(f"columns repeat in {names}; give each column once")
        ttl_us = 0
        if ttl is not None:
            ttl_us = ttl // timedelta(microseconds=1)
            if ttl_us <= 0:
                raise InvalidInputError(f"ttl {ttl} is not positive; pass None for no expiry")
        micros = _micros(event_ts)
        if n == 0:
            return WriteResult(0, 0)
        fixed_args = b"".join(
            _bulk(a)
            for a in [
                str(len(names)).encode(),
                *(name.encode() for name in names),
                (commit or "").encode(),
                str(ttl_us).encode(),
            ]
        )
        fixed_count = len(names) + 3
        calls = -(-n // _ROWS_PER_CALL)
        if not self._script_loaded:
            self._load_script()
        commands = self._write_commands(prefix, keys, tbl, micros, fixed_args, fixed_count)
        replies = self._exchange(commands, calls)
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
            self._load_script()
            commands = self._write_commands(prefix, keys, tbl, micros, fixed_args, fixed_count)
            replies = self._exchange(commands, calls)
        written = stale = 0
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise CommandError(
                    f"Redis at {self.where} rejected a write to {table!r}: {reply}. If a key "
                    f"holds another type, remove keys under {prefix.decode()!r}"
                ) from reply
            written += int(reply[0])
            stale += int(reply[1])
        return WriteResult(written, stale)

    def _load_script(self) -> None:
        sha = self._command("SCRIPT", "LOAD", WRITE_SCRIPT)
        got = sha.encode() if isinstance(sha, str) else sha
        if got != WRITE_SHA:
            raise CommandError(f"Redis at {self.where} returned script id {sha!r}, expected sha1")
        self._script_loaded = True

    def _write_commands(
        self,
        prefix: bytes,
        keys: Sequence[bytes],
        tbl: pa.Table,
        micros: pa.Array,
        fixed_args: bytes,
        fixed_count: int,
    ) -> Iterator[bytes]:
        ncols = tbl.num_columns
        for start in range(0, tbl.num_rows, _ROWS_PER_BLOCK):
            block = tbl.slice(start, _ROWS_PER_BLOCK).combine_chunks()
            size = block.num_rows
            key_arr = pa.array(keys[start : start + size], pa.large_binary())
            key_bulks = _bulk_array(pc.binary_join_element_wise(_lb(prefix), key_arr, _NOTHING))
            row_bulks = _bulk_array(
                micros.slice(start, size).cast(pa.string()).cast(pa.large_binary())
            )
            parts: list[pa.Array | pa.Scalar] = [row_bulks, self._mask_bulks(block)]
            for column in block.columns:
                payload = encode_column(column.combine_chunks())
                parts.append(_bulk_array(payload.fill_null(b"")))
            parts.append(_NOTHING)
            rows = pc.binary_join_element_wise(*parts)
            key_offsets, key_data = _spans(key_bulks)
            row_offsets, row_data = _spans(rows)
            for a in range(0, size, _ROWS_PER_CALL):
                b = min(a + _ROWS_PER_CALL, size)
                count = b - a
                head = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n%s" % (
                    3 + count + fixed_count + count * (ncols + 2),
                    WRITE_SHA,
                    _bulk(b"%d" % count),
                )
                yield b"".join(
                    (
                        head,
                        key_data[key_offsets[a] : key_offsets[b]],
                        fixed_args,
                        row_data[row_offsets[a] : row_offsets[b]],
                    )
                )

    @staticmethod
    def _mask_bulks(block: pa.Table) -> pa.Array | pa.Scalar:
        if not any(c.null_count for c in block.columns):
            return _NULL_MASK
        valid = np.stack(
            [c.is_valid().to_numpy(zero_copy_only=False) for c in block.columns], axis=1
        )
        masks = _bulk_array(_fixed_rows(valid.astype(np.uint8) + ord("0")))
        return pc.if_else(pa.array(~valid.all(axis=1)), masks, _NULL_MASK)

    # -- reads ---------------------------------------------------------------

    def prepare_read(self, requests: Sequence[ReadRequest]) -> PreparedRead:
        """The reads of ``requests`` (their table, schema and ttl) prepared for repeated use.

        Their keys and ``now`` are ignored: give keys to `PreparedRead.read_columns`.
        """
        return PreparedRead(self, requests)

    def _roundtrip(self, payload: bytes, replies: int) -> list[Any]:
        """`_exchange` of one payload, without the context manager's cost."""
        links = self._links
        try:
            link = links.get()
        except _CONNECTION_ERRORS as e:
            raise self._connection_error(e) from e
        try:
            link.send(payload)
            out = link.read(replies)
        except _CONNECTION_ERRORS as e:
            links.put(link, broken=True)
            raise self._connection_error(e) from e
        except BaseException:
            links.put(link, broken=True)
            raise
        links.put(link)
        return out

    def _read_plan(self, table: str, schema: pa.Schema) -> _ReadPlan:
        # Hashing a schema costs microseconds: look the same schema object up by identity.
        seen = self._plans_by_id.get((table, id(schema)))
        if seen is not None and seen[0] is schema:
            return seen[1]
        plan = self._plans.get((table, schema))
        if plan is None:
            if len(self._plans) > 1024:
                self._plans.clear()
            plan = self._plans[(table, schema)] = _ReadPlan(self._table_prefix(table), schema)
        if len(self._plans_by_id) > 1024:
            self._plans_by_id.clear()
        self._plans_by_id[(table, id(schema))] = (schema, plan)
        return plan

    def _fetch(
        self, requests: Sequence[ReadRequest]
    ) -> Iterator[tuple[ReadRequest, _ReadPlan, list[Any]]]:
        """All requests in one round trip; each with its plan and its HMGET replies."""
        commands: list[bytes] = []
        plans = [self._read_plan(req.table, req.schema) for req in requests]
        for req, plan in zip(requests, plans, strict=True):
            head, prefix, tail = plan.head, plan.prefix, plan.tail
            plen = len(prefix)
            commands.extend(
                b"%s$%d\r\n%s%s\r\n%s" % (head, plen + len(k), prefix, k, tail) for k in req.keys
            )
        replies = self._exchange([b"".join(commands)], len(commands)) if commands else []
        pos = 0
        for req, plan in zip(requests, plans, strict=True):
            n = len(req.keys)
            yield req, plan, replies[pos : pos + n]
            pos += n

    def read(self, requests: Sequence[ReadRequest]) -> list[pa.Table]:
        """All requests in one round trip; a row per key in order, null where missing/expired."""
        out = []
        for req, plan, replies in self._fetch(requests):
            columns, ts = self._columns(req, replies)
            arrays = plan.decoder.decode(columns[2:], len(replies))
            arrays.append(pa.array(ts, pa.int64()).view(_EVENT_TS_TYPE))
            arrays.append(pa.array(columns[1], pa.string()))
            out.append(pa.Table.from_arrays(arrays, schema=plan.schema))
        return out

    def read_columns(self, requests: Sequence[ReadRequest]) -> list[dict[str, list[Any]]]:
        """Like `read`, as Python values: per request, column name -> one value per key.

        Equal to ``[t.to_pydict() for t in read(requests)]`` (event times as UTC
        datetimes, commits as str) without building Arrow data: the cheaper call for a
        few keys.
        """
        out = []
        for req, plan, replies in self._fetch(requests):
            columns, ts = self._columns(req, replies)
            values = plan.py_decoder.decode(columns[2:])
            values[EVENT_TS_COLUMN] = [None if t is None else _event_time(t, req.table) for t in ts]
            values[COMMIT_COLUMN] = [None if c is None else c.decode() for c in columns[1]]
            out.append(values)
        return out

    def _columns(
        self, req: ReadRequest, replies: list[Any]
    ) -> tuple[list[Sequence[bytes | None]], list[int | None]]:
        """Replies as columns (event time, commit, then the schema's), ttl applied."""
        width = len(req.schema) + 2
        empty = [None] * width
        cutoff = None
        if req.ttl is not None:
            cutoff = _now_micros(req.now) - int(req.ttl / timedelta(microseconds=1))
        rows: list[Any] = []
        ts: list[int | None] = []
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise CommandError(
                    f"Redis at {self.where} rejected a read of {req.table!r}: {reply}"
                ) from reply
            raw = reply[0]
            if raw is None:
                rows.append(reply)
                ts.append(None)
                continue
            t = int(raw)
            if cutoff is not None and t < cutoff:
                rows.append(empty)
                ts.append(None)
            else:
                rows.append(reply)
                ts.append(t)
        columns: list[Sequence[bytes | None]] = (
            list(zip(*rows, strict=True)) if rows else [()] * width
        )
        return columns, ts

    # -- deletes and housekeeping ---------------------------------------------

    def delete(self, table: str, keys: Sequence[bytes]) -> int:
        """Remove these keys of `table`; returns how many existed."""
        prefix = self._table_prefix(table)
        step = 1000
        commands = [
            pack("UNLINK", *(prefix + k for k in keys[i : i + step]))
            for i in range(0, len(keys), step)
        ]
        replies = self._exchange(commands, len(commands)) if commands else []
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise CommandError(f"Redis at {self.where} rejected UNLINK: {reply}") from reply
        return sum(int(r) for r in replies)

    def delete_table(self, table: str) -> int:
        """Remove every key of `table` (SCAN + UNLINK); returns how many were removed."""
        return self._delete_matching(self._table_prefix(table) + b"*")

    def delete_all(self) -> int:
        """Remove every key under this store's prefix, of every table; returns how many."""
        return self._delete_matching(f"{self.key_prefix}:*".encode())

    def prefixes_after(self, separator: str) -> list[str]:
        """The key prefixes ``{key_prefix}{separator}X`` that hold keys, sorted (SCAN).

        A walk of the whole keyspace (SCAN matches after reading), for housekeeping, not
        for the request path.
        """
        if not separator or _NAME.fullmatch(separator) is None:
            raise InvalidInputError(
                f"separator {separator!r} is not usable in a Redis key; use a character "
                "other than ':', spaces or any of *?[]\\"
            )
        start = f"{self.key_prefix}{separator}".encode()
        found: set[str] = set()
        cursor: bytes | int = 0
        while True:
            cursor, keys = self._command("SCAN", cursor, "MATCH", start + b"*", "COUNT", 1000)
            for key in keys:
                raw = key if isinstance(key, bytes) else str(key).encode()
                head, colon, _ = raw.partition(b":")
                if colon and len(head) > len(start):
                    found.add(head.decode(errors="replace"))
            if int(cursor) == 0:
                return sorted(found)

    def add_members(self, name: str, members: Sequence[str]) -> int:
        """Add ``members`` to the set ``{key_prefix}:{name}`` (bookkeeping); how many were new."""
        if not members:
            return 0
        return int(self._command("SADD", self._set_key(name), *members))

    def remove_members(self, name: str, members: Sequence[str]) -> int:
        """Remove ``members`` from the set ``{key_prefix}:{name}``; how many were there."""
        if not members:
            return 0
        return int(self._command("SREM", self._set_key(name), *members))

    def members(self, name: str) -> list[str]:
        """The members of the set ``{key_prefix}:{name}``, sorted (empty when absent)."""
        got = self._command("SMEMBERS", self._set_key(name))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in got)

    def _set_key(self, name: str) -> bytes:
        _check_name("set name", name)
        return f"{self.key_prefix}:{name}".encode()

    def _delete_matching(self, pattern: bytes) -> int:
        cursor: bytes | int = 0
        removed = 0
        while True:
            cursor, found = self._command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            if found:
                removed += int(self._command("UNLINK", *found))
            if int(cursor) == 0:
                return removed

    def rewrite_persistence(self, timeout: float = 60.0) -> tuple[str, ...]:
        """Rewrite the server's persistence files from the data it holds now, so that
        keys deleted before are in none of them: the append-only file (BGREWRITEAOF)
        when it is on, then the RDB snapshot (BGSAVE) when snapshots are configured.
        Waits for each to finish, at most ``timeout`` seconds in all; returns what was
        rewritten (``"aof"``, ``"rdb"``). A server that refuses, or does not finish in
        time, raises ``CommandError``. Replicas and backups are not touched."""
        import time

        deadline = time.monotonic() + timeout
        done: list[str] = []
        info = self._persistence()
        if info.get("aof_enabled") == "1":
            self._command("BGREWRITEAOF")
            info = self._settle(
                deadline, "aof_rewrite_in_progress", "aof_rewrite_scheduled", "BGREWRITEAOF"
            )
            if info.get("aof_last_bgrewrite_status", "ok") != "ok":
                raise CommandError(
                    f"Redis at {self.where} could not rewrite its append-only file "
                    f"(aof_last_bgrewrite_status {info.get('aof_last_bgrewrite_status')}); "
                    "see its log, then run BGREWRITEAOF"
                )
            done.append("aof")
        save = self._command("CONFIG", "GET", "save")
        # a list [name, value] in RESP2; a map {name: value} where the client speaks RESP3
        if isinstance(save, dict):
            rules = next(iter(save.values()), b"")
        else:
            rules = save[1] if isinstance(save, list) and len(save) > 1 else b""
        if (rules.decode() if isinstance(rules, bytes) else str(rules)).strip():
            count = "rdb_saves" if "rdb_saves" in info else "rdb_last_save_time"
            before = info.get(count, "")
            self._command("BGSAVE", "SCHEDULE")
            while True:
                info = self._settle(deadline, "rdb_bgsave_in_progress", None, "BGSAVE")
                if info.get(count, "") != before:
                    break
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"Redis at {self.where} did not save its snapshot within {timeout} s; "
                        "run BGSAVE once it is idle"
                    )
                time.sleep(0.02)
            if info.get("rdb_last_bgsave_status", "ok") != "ok":
                raise CommandError(
                    f"Redis at {self.where} could not save its snapshot "
                    f"(rdb_last_bgsave_status {info.get('rdb_last_bgsave_status')}); see its "
                    "log, then run BGSAVE"
                )
            done.append("rdb")
        return tuple(done)

    def _persistence(self) -> dict[str, str]:
        raw = self._command("INFO", "persistence")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        out: dict[str, str] = {}
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                out[name.strip()] = value.strip()
        return out

    def _settle(
        self, deadline: float, running: str, scheduled: str | None, what: str
    ) -> dict[str, str]:
        """INFO persistence once neither ``running`` nor ``scheduled`` is 1 (or raise)."""
        import time

        while True:
            info = self._persistence()
            if info.get(running) != "1" and (scheduled is None or info.get(scheduled) != "1"):
                return info
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Redis at {self.where} did not finish {what} in time; run it again "
                    "once the server is idle"
                )
            time.sleep(0.02)

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            return bool(self._command("PING"))
        except (ConnectionFailedError, CommandError):
            return False

    def close(self) -> None:
        """Close pooled connections; the store reconnects if used again."""
        self._links.close()
        self._pool.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self.where!r}, key_prefix={self.key_prefix!r})"


class PreparedRead:
    """Reads of a fixed list of (table, schema, ttl), prepared once for many lookups.

    Per call only the keys change: the packed ``HMGET`` commands for one key shared by
    every table are a single ``key.join`` of parts kept per key length, and rows whose
    fields are all 8-byte numbers decode with one ``struct.unpack``. Results equal
    `RedisOnlineStore.read_columns` of the same requests.
    """

    __slots__ = ("_cutoffs", "_parts", "_plans", "_requests", "_store")

    def __init__(self, store: RedisOnlineStore, requests: Sequence[ReadRequest]) -> None:
        self._store = store
        self._requests = [ReadRequest(r.table, (), r.schema, r.ttl) for r in requests]
        self._plans = [store._read_plan(r.table, r.schema) for r in requests]
        self._cutoffs = [
            None if r.ttl is None else int(r.ttl / timedelta(microseconds=1)) for r in requests
        ]
        self._parts: dict[int, list[bytes]] = {}

    def _shared_parts(self, size: int) -> list[bytes]:
        """Parts whose join by a key of ``size`` bytes is every table's HMGET of that key."""
        parts = self._parts.get(size)
        if parts is None:
            parts = []
            tail = b""
            for plan in self._plans:
                parts.append(
                    tail + plan.head + b"$%d\r\n" % (len(plan.prefix) + size) + plan.prefix
                )
                tail = b"\r\n" + plan.tail
            parts.append(tail)
            if len(self._parts) > 64:
                self._parts.clear()
            self._parts[size] = parts
        return parts

    def read_columns(
        self, keys: Sequence[Sequence[bytes]], now: datetime | None = None
    ) -> list[dict[str, list[Any]]]:
        """Per request, column name -> one value per key of ``keys[i]``; one round trip.

        ``now`` is the time ttl is measured against (default: the current time).
        """
        return self.read_columns_with(keys, now)[0]

    def read_columns_with(
        self,
        keys: Sequence[Sequence[bytes]],
        now: datetime | None = None,
        extra: bytes = b"",
        extra_replies: int = 0,
    ) -> tuple[list[dict[str, list[Any]]], list[Any]]:
        """`read_columns`, with ``extra`` (packed commands of another reader, answering
        ``extra_replies`` replies) sent in the same round trip; their raw replies come back
        beside the columns."""
        plans = self._plans
        tables = len(plans)
        if len(keys) != tables:
            raise InvalidInputError(
                f"got {len(keys)} key lists for {tables} prepared reads; pass one per read"
            )
        first = keys[0] if tables else ()
        more: list[Any] = []
        if tables and all(k is first for k in keys):
            # Key-major order: the replies of key j are replies[j * tables : (j + 1) * tables].
            if not first:
                replies: list[Any] = []
            elif len(first) == 1:
                key = first[0]
                payload = key.join(self._shared_parts(len(key)))
                replies = self._store._roundtrip(payload + extra, tables + extra_replies)
            else:
                payload = b"".join(k.join(self._shared_parts(len(k))) for k in first)
                n = tables * len(first)
                replies = self._store._roundtrip(payload + extra, n + extra_replies)
            if first:
                replies, more = (
                    replies[: len(replies) - extra_replies],
                    replies[len(replies) - extra_replies :],
                )
            per_table = [replies[i::tables] for i in range(tables)]
        else:
            commands: list[bytes] = []
            for plan, ks in zip(plans, keys, strict=True):
                head, prefix, tail = plan.head, plan.prefix, plan.tail
                plen = len(prefix)
                commands.extend(
                    b"%s$%d\r\n%s%s\r\n%s" % (head, plen + len(k), prefix, k, tail) for k in ks
                )
            if commands:
                replies = self._store._roundtrip(
                    b"".join(commands) + extra, len(commands) + extra_replies
                )
                replies, more = replies[: len(commands)], replies[len(commands) :]
            else:
                replies = []
            per_table = []
            pos = 0
            for ks in keys:
                per_table.append(replies[pos : pos + len(ks)])
                pos += len(ks)
        out = self._decode_tables(plans, per_table, now)
        if extra_replies and not more:  # nothing of ours was sent
            more = self._store._roundtrip(extra, extra_replies)
        return out, more

    def _decode_tables(
        self, plans: Sequence[Any], per_table: Sequence[list[Any]], now: datetime | None
    ) -> list[dict[str, list[Any]]]:
        """Each request's replies as columns, rows past the request's ttl at ``now`` null."""
        now_us = None
        out = []
        for req, plan, ttl_us, rows in zip(
            self._requests, plans, self._cutoffs, per_table, strict=True
        ):
            cutoff = None
            if ttl_us is not None:
                if now_us is None:
                    now_us = _now_micros(now)
                cutoff = now_us - ttl_us
            out.append(self._decode(req, plan, rows, cutoff))
        return out

    def _decode(
        self, req: ReadRequest, plan: _ReadPlan, replies: list[Any], cutoff: int | None
    ) -> dict[str, list[Any]]:
        """One table's replies as columns: ttl applied, missing and expired rows null."""
        decoder = plan.py_decoder
        if len(replies) == 1:
            reply = replies[0]
            raw = None if isinstance(reply, redis.ResponseError) else reply[0]
            if raw is not None:
                t = int(raw)
                if cutoff is None or t >= cutoff:
                    c = reply[1]
                    values = {
                        name: [v]
                        for name, v in zip(decoder.names, decoder.decode_row(reply, 2), strict=True)
                    }
                    values[EVENT_TS_COLUMN] = [_event_time(t, req.table)]
                    values[COMMIT_COLUMN] = [None if c is None else c.decode()]
                    return values
        present: list[Any] = []
        where: list[int] = []
        ts: list[datetime | None] = []
        commits: list[str | None] = []
        for i, reply in enumerate(replies):
            if isinstance(reply, redis.ResponseError):
                raise CommandError(
                    f"Redis at {self._store.where} rejected a read of {req.table!r}: {reply}"
                ) from reply
            raw = reply[0]
            if raw is not None:
                t = int(raw)
                if cutoff is None or t >= cutoff:
                    present.append(reply)
                    where.append(i)
                    ts.append(_event_time(t, req.table))
                    c = reply[1]
                    commits.append(None if c is None else c.decode())
                    continue
            ts.append(None)
            commits.append(None)
        n = len(replies)
        if len(present) == n:
            columns = decoder.decode_rows(present, 2)
        elif not present:
            columns = [[None] * n for _ in decoder.names]
        else:
            columns = []
            for found in decoder.decode_rows(present, 2):
                column: list[Any] = [None] * n
                for i, v in zip(where, found, strict=True):
                    column[i] = v
                columns.append(column)
        values = dict(zip(decoder.names, columns, strict=True))
        values[EVENT_TS_COLUMN] = ts
        values[COMMIT_COLUMN] = commits
        return values
