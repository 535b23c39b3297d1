"""Windowed aggregates exact at request time: raw events and tiles per entity in Redis.

Each (prefix, table, entity key) is one hash ``{prefix}:{table}~tiles:{key}`` holding,
per tile ``j`` (events with ``j*T < e <= (j+1)*T``), the tile's raw events (``r<j>``,
MessagePack) and its partials (``p<j>``: per column count, sum, mean, M2, min, max, and
the tile's last row); coarse tiles of F tiles (``q<k>``, F = sqrt(widest / T)); per
window the merged whole tiles of the last read (``m<window>``, valid for one version
``v``); the newest event time (``n``), the lowest tile (``o``), F (``f``) and the commit
(``c``). Raw events are kept for the widest window (plus a tile) before the newest
event; a read merges the tiles wholly inside ``(t - window, t]`` and adds the raw events
of the edge tiles, so the answer is the offline value at ``t``, computed by one Lua
script per request, pipelined.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import redis

from online.errors import CommandError, InvalidInputError
from online.redis_store import RedisOnlineStore, _check_name, pack
from online.store import COMMIT_COLUMN, EVENT_TS_COLUMN

__all__ = ["AggSpec", "PendingRead", "SeriesSpec", "TileStore", "column_kind", "tile_size"]

Function = Literal["count", "sum", "mean", "min", "max", "stddev", "last"]
_FUNCTIONS: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "stddev", "last")
_MINUTE_US = 60_000_000
_HOUR_US = 3_600_000_000
_KEYS_PER_CALL = 256
_SMALL = 64
"""Event tables up to this size are turned into script arguments in Python (cheaper)."""
KEY_COLUMN = "__key"
TS_COLUMN = "__ts"
CREATED_COLUMN = "__created"


@dataclass(frozen=True)
class AggSpec:
    """One aggregate: `function` of `column` over the window ``(t - window_us, t]``.

    `integer` says the column holds integers (sum, min, max and last read back as int).
    """

    column: str
    function: Function
    window_us: int
    output: str
    integer: bool


@dataclass(frozen=True)
class SeriesSpec:
    """The aggregates kept for one table's events: their columns and the tile size.

    `types`: each column's Arrow type, in order. Numbers and booleans take every
    function; strings, binaries, timestamps and dates take count, min, max and last (read
    back in their own type). Empty: every column is numeric.
    """

    table: str
    specs: tuple[AggSpec, ...]
    columns: tuple[str, ...]
    tile_us: int
    types: tuple[pa.DataType, ...] = ()

    def __post_init__(self) -> None:
        _check_name("table", self.table)
        if not self.specs:
            raise InvalidInputError(f"series {self.table!r} has no aggregates; give at least one")
        if self.tile_us <= 0:
            raise InvalidInputError(f"tile size {self.tile_us} us is not positive")
        for s in self.specs:
            if s.function not in _FUNCTIONS:
                raise InvalidInputError(
                    f"aggregate {s.output!r}: unknown function {s.function!r}; use one of "
                    f"{', '.join(_FUNCTIONS)}"
                )
            if s.column not in self.columns:
                raise InvalidInputError(
                    f"aggregate {s.output!r} reads {s.column!r}, which is not among the "
                    f"series' columns {list(self.columns)}"
                )
            if s.window_us <= 0:
                raise InvalidInputError(f"aggregate {s.output!r}: window must be positive")
        if self.types and len(self.types) != len(self.columns):
            raise InvalidInputError(
                f"series {self.table!r}: {len(self.types)} types for {len(self.columns)} "
                "columns; give one type per column"
            )
        for column, typ in zip(self.columns, self.types, strict=False):
            if column_kind(typ) is None:
                raise InvalidInputError(
                    f"series {self.table!r}: column {column!r} has type {typ}; tiles hold "
                    "numbers, booleans, strings, binaries, timestamps and dates"
                )
        for s in self.specs:
            kind = self.kind(s.column)
            if kind != "n" and s.function in ("sum", "mean", "stddev"):
                raise InvalidInputError(
                    f"aggregate {s.output!r}: {s.function} needs a numeric column, but "
                    f"{s.column!r} is {self.types[self.columns.index(s.column)]}"
                )

    def kind(self, column: str) -> str:
        """How `column` travels: n(umber), s(tring), b(inary), t(imestamp) or d(ate)."""
        if not self.types:
            return "n"
        kind = column_kind(self.types[self.columns.index(column)])
        assert kind is not None
        return kind

    @property
    def widest_us(self) -> int:
        """The widest window: how far back raw events are kept."""
        return max(s.window_us for s in self.specs)


def column_kind(typ: pa.DataType) -> str | None:
    """How a column of `typ` is kept in tiles (see `SeriesSpec.kind`); None: it cannot be."""
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
        return "n"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "s"
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return "b"
    if pa.types.is_timestamp(typ):
        return "t"
    if pa.types.is_date32(typ):
        return "d"
    return None


def tile_size(windows: Sequence[int]) -> int:
    """The tile size for these windows (us): their gcd, clamped to [1 minute, 1 hour].

    A window that is a multiple of the tile size is covered by whole tiles plus two edge
    tiles; any other size is still exact (edges are read from raw events), only slower.
    """
    if not windows:
        raise InvalidInputError("tile_size needs at least one window")
    g = 0
    for w in windows:
        g = math.gcd(g, int(w))
    return max(_MINUTE_US, min(_HOUR_US, g))


# Shared Lua: tile partials from raw events, and identity order (a null created time
# sorts after every created time, as DuckDB orders a struct's null field).
_COMMON = b"""
local function later(ats, acr, bts, bcr)
  if ats ~= bts then return ats > bts end
  if acr == bcr then return false end
  if acr == false then return true end
  if bcr == false then return false end
  return acr > bcr
end
local function chunked(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end
-- STR[c]: column c holds strings (count, min, max and last only), compared byte by byte
local STR = {}
local function columns(arg)
  local n, k = string.match(arg, '^(%d+):?(%a*)$')
  for c = 1, #k do STR[c] = string.sub(k, c, c) == 's' end
  return tonumber(n)
end
local function less(a, b)
  if type(a) ~= 'string' then return a < b end
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function merge(a, p, text)
  if p[1] == 0 then return end
  if text then
    a[1] = a[1] + p[1]
  else
    local n = a[1] + p[1]
    local d = p[3] - a[3]
    a[4] = a[4] + p[4] + d * d * a[1] * p[1] / n
    a[3] = a[3] + d * p[1] / n
    a[1] = n
    a[2] = a[2] + p[2]
  end
  if a[5] == false or less(p[5], a[5]) then a[5] = p[5] end
  if a[6] == false or less(a[6], p[6]) then a[6] = p[6] end
end
local function fold_into(q, p, ncols)
  for c = 1, ncols do merge(q[1][c], p[1][c], STR[c]) end
  local l = p[2]
  if l and (q[2] == false or later(l[1], l[2], q[2][1], q[2][2])) then q[2] = l end
  local f = p[3]
  if f == nil then q[4] = 'u'
  elseif f ~= false and (q[3] == false or f < q[3]) then q[3] = f end
  if p[4] then q[4] = 'u' end
end
local function empty(ncols)
  local cols = {}
  for c = 1, ncols do cols[c] = {0, 0, 0, 0, false, false} end
  return {cols, false, false}
end
local function partials(raw, ncols)
  local cols = {}
  for c = 1, ncols do cols[c] = {0, 0, 0, 0, false, false} end
  local last, first = false, false
  for _, ev in ipairs(raw) do
    if last == false or later(ev[1], ev[2], last[1], last[2]) then last = ev end
    if first == false or ev[1] < first then first = ev[1] end
    for c = 1, ncols do
      local v = ev[2 + c]
      if v ~= false then
        local p = cols[c]
        local n = p[1] + 1
        p[1] = n
        if not STR[c] then
          local d = v - p[3]
          p[2] = p[2] + v
          p[3] = p[3] + d / n
          p[4] = p[4] + d * (v - p[3])
        end
        if p[5] == false or less(v, p[5]) then p[5] = v end
        if p[6] == false or less(p[6], v) then p[6] = v end
      end
    end
  end
  return {cols, last, first}
end
"""

# KEYS: hashes. ARGV: mode ("f" fold, "r" replace), tile us, widest window us, ncols,
# commit ("" none), window count, windows, layout (tile us|columns), then per key: event count m, then m events of (ts, created ("" =
# null), values ("" = null)...). Returns {added, duplicates}.
_WRITE_SCRIPT = (
    _COMMON
    + b"""
local mode = ARGV[1]
local T = tonumber(ARGV[2])
local W = tonumber(ARGV[3])
local ncols = columns(ARGV[4])
local commit = ARGV[5]
local nwin = tonumber(ARGV[6])
local windows = {}
for w = 1, nwin do windows[w] = ARGV[6 + w] end
local layout = ARGV[7 + nwin]
local since = tonumber(ARGV[8 + nwin])
local pos = 9 + nwin
local added, dups = 0, 0
if mode == 'f' then
  for i = 1, #KEYS do
    local got = redis.call('HGET', KEYS[i], 's')
    if got and got ~= layout then
      return redis.error_reply('LAYOUT ' .. got)
    end
  end
end
for i = 1, #KEYS do
  local key = KEYS[i]
  local m = tonumber(ARGV[pos])
  pos = pos + 1
  -- one read of what the write depends on: newest, F, lowest tile, version, kept merges
  local h = {}
  if mode == 'r' then
    redis.call('DEL', key)
  else
    local names = {'n', 'f', 'o', 'v', 'k'}
    for w = 1, nwin do names[5 + w] = 'm' .. windows[w] end
    h = redis.call('HMGET', key, unpack(names))
  end
  local newest = tonumber(h[1] or '-1e300')
  local events = {}
  local fresh, corrected = {}, false
  for e = 1, m do
    local ts = tonumber(ARGV[pos])
    local cr = ARGV[pos + 1]
    if cr == '' then cr = false else cr = tonumber(cr) end
    local ev = {ts, cr}
    for c = 1, ncols do
      local v = ARGV[pos + 1 + c]
      if v == '' then ev[2 + c] = false elseif STR[c] then ev[2 + c] = v else ev[2 + c] = tonumber(v) end
    end
    pos = pos + 2 + ncols
    events[e] = ev
    if ts > newest then newest = ts end
  end
  local horizon = newest - W
  local F = tonumber(h[2] or '0')
  if F == 0 then F = math.max(1, math.floor(math.sqrt(W / T))) end
  local redo = {}
  local oldest = math.floor((horizon - 1) / T) - 1
  local tiles, index, dirty = {}, {}, {}
  local function slot(idx, ev)
    local by = idx[ev[1]]
    if by == nil then
      by = {}
      idx[ev[1]] = by
    end
    return by
  end
  -- the touched tiles' raw events and their coarse tiles, in one read
  local stored = {}
  if mode ~= 'r' then
    local names, seen = {}, {}
    for _, ev in ipairs(events) do
      local j = math.floor((ev[1] - 1) / T)
      if j >= oldest and not seen['r' .. j] then
        seen['r' .. j] = true
        names[#names + 1] = 'r' .. j
        local q = 'q' .. math.floor(j / F)
        if F > 1 and not seen[q] then
          seen[q] = true
          names[#names + 1] = q
        end
      end
    end
    for c = 1, #names, 1000 do
      local part = {unpack(names, c, math.min(c + 999, #names))}
      local got = redis.call('HMGET', key, unpack(part))
      for x = 1, #part do stored[part[x]] = got[x] end
    end
  end
  local ignored = false
  for _, ev in ipairs(events) do
    local j = math.floor((ev[1] - 1) / T)
    if j < oldest then ignored = true end
    if j >= oldest then
      local raw = tiles[j]
      if raw == nil then
        local got = stored['r' .. j]
        if got then raw = cmsgpack.unpack(got) else raw = {} end
        tiles[j] = raw
        local idx = {}
        for k, old in ipairs(raw) do slot(idx, old)[old[2]] = k end
        index[j] = idx
      end
      local by = slot(index[j], ev)
      local k = by[ev[2]]
      -- a replace holds a commit's rows: rows that share an identity all count, as offline
      if k and mode ~= 'r' then
        local old = raw[k]
        local same = true
        for c = 1, ncols do
          if old[2 + c] ~= ev[2 + c] then same = false end
        end
        if same then
          dups = dups + 1
        else
          raw[k] = ev
          corrected = true
          redo[math.floor(j / F)] = true
          dirty[j] = true
          added = added + 1
        end
      else
        raw[#raw + 1] = ev
        fresh[#fresh + 1] = {j, ev}
        by[ev[2]] = #raw
        dirty[j] = true
        added = added + 1
      end
    end
  end
  local sets = {}
  local low = tonumber(h[3] or '1e300')
  local coarse = {}
  for j, _ in pairs(dirty) do
    sets[#sets + 1] = 'r' .. j
    sets[#sets + 1] = cmsgpack.pack(tiles[j])
    sets[#sets + 1] = 'p' .. j
    local p = partials(tiles[j], ncols)
    sets[#sets + 1] = cmsgpack.pack(p)
    tiles[j] = p
    coarse[math.floor(j / F)] = true
    if j < low then low = j end
  end
  if F > 1 then
    for k, _ in pairs(coarse) do
      -- fresh events fold into the kept coarse tile; a correction recomputes it
      local q = false
      if mode ~= 'r' and not redo[k] then
        local got = stored['q' .. k]
        if got then
          q = cmsgpack.unpack(got)
          for _, f in ipairs(fresh) do
            if math.floor(f[1] / F) == k then fold_into(q, partials({f[2]}, ncols), ncols) end
          end
        end
      end
      if q == false then
        q = empty(ncols)
        local names = {}
        if mode ~= 'r' then
          for j = k * F, k * F + F - 1 do
            if not dirty[j] then names[#names + 1] = 'p' .. j end
          end
        end
        local parts = {}
        if #names > 0 then
          for _, got in ipairs(redis.call('HMGET', key, unpack(names))) do
            if got then parts[#parts + 1] = cmsgpack.unpack(got) end
          end
        end
        for j = k * F, k * F + F - 1 do
          if dirty[j] then parts[#parts + 1] = tiles[j] end
        end
        for _, p in ipairs(parts) do fold_into(q, p, ncols) end
      end
      sets[#sets + 1] = 'q' .. k
      sets[#sets + 1] = cmsgpack.pack(q)
    end
  end
  if mode == 'r' and commit ~= '' and m > 0 then
    sets[#sets + 1] = 'c'
    sets[#sets + 1] = commit
  end
  if m > 0 then
    if low < oldest then low = oldest end
    sets[#sets + 1] = 'n'
    sets[#sets + 1] = string.format('%.17g', newest)
    sets[#sets + 1] = 'f'
    sets[#sets + 1] = F
    sets[#sets + 1] = 's'
    sets[#sets + 1] = layout
    local lowest = tonumber(h[3] or '1e300')
    -- events are kept since this time: a read whose window reaches before it is refused
    local kept = tonumber(h[5] or '-1e300')
    if mode == 'r' and since then kept = since end
    if lowest < oldest or ignored then kept = math.max(kept, oldest * T) end
    if kept > -1e300 then
      sets[#sets + 1] = 'k'
      sets[#sets + 1] = string.format('%.0f', kept)
    end
    local gone = {'z'}
    if lowest < oldest then
      if oldest - lowest > 4096 then
        for _, f in ipairs(redis.call('HKEYS', key)) do
          local kind = string.sub(f, 1, 1)
          local j = tonumber(string.sub(f, 2))
          if kind == 'q' and j and (j + 1) * F <= oldest then gone[#gone + 1] = f end
          if (kind == 'r' or kind == 'p') and j and j < oldest then gone[#gone + 1] = f end
        end
      else
        for j = lowest, oldest - 1 do
          gone[#gone + 1] = 'r' .. j
          gone[#gone + 1] = 'p' .. j
          if (j + 1) % F == 0 then gone[#gone + 1] = 'q' .. math.floor(j / F) end
        end
      end
    end
    sets[#sets + 1] = 'o'
    sets[#sets + 1] = string.format('%.0f', low)
    local prev = h[4]
    local ver = tostring((tonumber(prev) or 0) + 1)
    sets[#sets + 1] = 'v'
    sets[#sets + 1] = ver
    if mode == 'f' then
      for w = 1, nwin do
        local got = h[5 + w]
        if got then
          local memo = cmsgpack.unpack(got)
          if corrected or memo[3] ~= prev then
            gone[#gone + 1] = 'm' .. windows[w]
          else
            for _, f in ipairs(fresh) do
              if f[1] >= memo[1] and f[1] <= memo[2] then
                fold_into(memo[4], partials({f[2]}, ncols), ncols)
              end
            end
            memo[3] = ver
            sets[#sets + 1] = 'm' .. windows[w]
            sets[#sets + 1] = cmsgpack.pack(memo)
          end
        end
      end
    end
    chunked('HDEL', key, gone)
    chunked('HSET', key, sets)
    local at = math.floor((newest + W) / 1000) + 1
    redis.call('PEXPIREAT', key, string.format('%.0f', at))
  end
end
return {added, dups}
"""
)

# KEYS: hashes. ARGV: at us, signature (of the arguments after it), tile us, ncols, nspecs,
# then per spec: column index, function, window us; then the layout (tile us|columns).
# Returns per key {commit, newest event used, outputs...}. Each answer is kept in the hash
# (``z``) with the request times it holds for, so a repeated lookup is one HGET.
_READ_SCRIPT = (
    _COMMON
    + b"""
local at = tonumber(ARGV[1])
local sig = ARGV[2]
local T, ncols, nspecs, layout
local specs, wlist = {}, {}
local function parse()
  T = tonumber(ARGV[3])
  ncols = columns(ARGV[4])
  nspecs = tonumber(ARGV[5])
  layout = ARGV[6 + nspecs * 3]
  local seen = {}
  for s = 1, nspecs do
    local o = 5 + (s - 1) * 3
    local w = tonumber(ARGV[o + 3])
    specs[s] = {tonumber(ARGV[o + 1]), ARGV[o + 2], w}
    if not seen[w] then
      seen[w] = true
      wlist[#wlist + 1] = w
    end
  end
end
local function fmt(x)
  if x == false then return false end
  return string.format('%.17g', x)
end
local function compute(key)
  local h = redis.call('HMGET', key, 'v', 'f', 's', 'c', 'n', 'k')
  local ver, F, stored = h[1], tonumber(h[2] or '1'), h[3]
  if stored and stored ~= layout then return nil, 'LAYOUT ' .. stored end
  if h[6] then
    local kept = tonumber(h[6])
    for _, w in ipairs(wlist) do
      if at - w < kept then return nil, 'EARLY ' .. h[6] .. ' ' .. string.format('%.0f', at - w) end
    end
  end
  local cache = {}
  local function fetch(names)
    local need = {}
    for _, n in ipairs(names) do
      if cache[n] == nil then need[#need + 1] = n end
    end
    if #need > 0 then
      local got = redis.call('HMGET', key, unpack(need))
      for k, n in ipairs(need) do
        if got[k] then cache[n] = cmsgpack.unpack(got[k]) else cache[n] = false end
      end
    end
  end
  local top = math.floor((at - 1) / T)
  local future = ver and h[5] and tonumber(h[5]) > at
  local plan, names = {}, {}
  for _, w in ipairs(wlist) do
    local lo = at - w
    local j0, j1 = math.ceil(lo / T), math.floor(at / T) - 1
    local first = math.floor(lo / T)
    local edges = {}
    if j0 > j1 then
      for j = first, top do edges[#edges + 1] = j end
    else
      for j = first, j0 - 1 do edges[#edges + 1] = j end
      for j = j1 + 1, top do edges[#edges + 1] = j end
    end
    plan[w] = {lo, j0, j1, edges}
    for _, j in ipairs(edges) do names[#names + 1] = 'r' .. j end
    if j0 <= j1 then names[#names + 1] = 'm' .. w end
  end
  -- the answer holds for request times in [at, hi): until an event enters or leaves a window
  local hi, known = 1e300, true
  if future then names[#names + 1] = 'r' .. top end
  if ver then fetch(names) end
  if future then
    hi = (top + 1) * T + 1
    for _, ev in ipairs(cache['r' .. top] or {}) do
      if ev[1] > at and ev[1] < hi then hi = ev[1] end
    end
  end
  local sets = {}
  local acc = {}
  local widest, wlast = -1, false
  for _, w in ipairs(wlist) do
    local lo, j0, j1, edges = plan[w][1], plan[w][2], plan[w][3], plan[w][4]
    local a = empty(ncols)
    if ver and j0 <= j1 then
      local memo = cache['m' .. w]
      if not (memo and memo[1] == j0 and memo[2] == j1 and memo[3] == ver) then
        local parts = {}
        local j = j0
        while j <= j1 do
          if F > 1 and j % F == 0 and j + F - 1 <= j1 then
            parts[#parts + 1] = 'q' .. math.floor(j / F)
            j = j + F
          else
            parts[#parts + 1] = 'p' .. j
            j = j + 1
          end
        end
        fetch(parts)
        local m = empty(ncols)
        for _, n in ipairs(parts) do
          if cache[n] then fold_into(m, cache[n], ncols) end
        end
        memo = {j0, j1, ver, m}
        sets[#sets + 1] = 'm' .. w
        sets[#sets + 1] = cmsgpack.pack(memo)
      end
      fold_into(a, memo[4], ncols)
    end
    if ver then
      for _, j in ipairs(edges) do
        local raw = cache['r' .. j]
        if raw then
          local inside = {}
          for _, ev in ipairs(raw) do
            if ev[1] > lo and ev[1] <= at then inside[#inside + 1] = ev end
          end
          if #inside > 0 then fold_into(a, partials(inside, ncols), ncols) end
        end
      end
    end
    if a[4] then known = false end
    if a[3] and a[3] + w < hi then hi = a[3] + w end
    acc[w] = a
    if w > widest then widest, wlast = w, a[2] end
  end
  local row = {h[4] or false, false}
  if wlast then row[2] = fmt(wlast[1]) end
  for s = 1, nspecs do
    local c, fn, w = specs[s][1], specs[s][2], specs[s][3]
    local a = acc[w][1][c]
    local v = false
    if fn == 'count' then v = fmt(a[1])
    elseif STR[c] then
      if fn == 'min' then v = a[5]
      elseif fn == 'max' then v = a[6]
      elseif fn == 'last' and acc[w][2] then v = acc[w][2][2 + c]
      end
    elseif a[1] > 0 or fn == 'last' then
      if fn == 'sum' then v = fmt(a[2])
      elseif fn == 'mean' then v = fmt(a[2] / a[1])
      elseif fn == 'min' then v = fmt(a[5])
      elseif fn == 'max' then v = fmt(a[6])
      elseif fn == 'stddev' then
        if a[1] > 1 then v = fmt(math.sqrt(a[4] / (a[1] - 1))) end
      elseif fn == 'last' then
        local l = acc[w][2]
        if l then v = fmt(l[2 + c]) end
      end
    end
    row[2 + s] = v
  end
  if ver then
    if known then
      sets[#sets + 1] = 'z'
      sets[#sets + 1] = cmsgpack.pack({sig, at, hi, row})
    end
    if #sets > 0 then redis.call('HSET', key, unpack(sets)) end
  end
  return row
end
local out = {}
local parsed = false
for i = 1, #KEYS do
  local row = nil
  local z = redis.call('HGET', KEYS[i], 'z')
  if z then
    z = cmsgpack.unpack(z)
    if z[1] == sig and z[2] <= at and at < z[3] then row = z[4] end
  end
  if row == nil then
    if not parsed then
      parse()
      parsed = true
    end
    local err
    row, err = compute(KEYS[i])
    if err then return redis.error_reply(err) end
  end
  out[i] = row
end
return out
"""
)
_WRITE_SHA = hashlib.sha1(_WRITE_SCRIPT).hexdigest().encode()
_READ_SHA = hashlib.sha1(_READ_SCRIPT).hexdigest().encode()
_SCRIPTS = {_WRITE_SHA: _WRITE_SCRIPT, _READ_SHA: _READ_SCRIPT}


def _iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


def _micros(col: pa.ChunkedArray | pa.Array, name: str) -> pa.ChunkedArray | pa.Array:
    typ = col.type
    if pa.types.is_timestamp(typ):
        return pc.cast(col, pa.timestamp("us", tz=typ.tz), safe=False).cast(pa.int64())
    if pa.types.is_integer(typ):
        return col.cast(pa.int64())
    raise InvalidInputError(f"column {name!r} has type {typ}; pass a timestamp column")


def _text(col: pa.ChunkedArray | pa.Array) -> list[bytes]:
    """Each value as the decimal text Lua's tonumber reads (b"" for null), vectorized."""
    if len(col) <= _SMALL:
        return [
            b"" if v is None else (str(int(v)) if isinstance(v, int) else repr(v)).encode()
            for v in col.to_pylist()
        ]
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    elif pa.types.is_floating(col.type):
        col = col.cast(_FLOAT64)  # float32 text would name another double than offline's
    out: list[bytes] = pc.fill_null(col.cast(pa.string()).cast(pa.binary()), b"").to_pylist()
    return out


_INT64 = pa.int64()
_FLOAT64 = pa.float64()
_STRING = pa.string()
_UTC_US = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMAS: dict[int, tuple[SeriesSpec, pa.Schema]] = {}
_ARGS: dict[int, tuple[SeriesSpec, list[bytes]]] = {}


def _output_type(spec: AggSpec, series: SeriesSpec | None = None) -> pa.DataType:
    if spec.function == "count":
        return _INT64
    if series is not None and series.kind(spec.column) != "n":
        return series.types[series.columns.index(spec.column)]
    if spec.function in ("mean", "stddev") or not spec.integer:
        return _FLOAT64
    return _INT64


def _lua_columns(spec: SeriesSpec) -> bytes:
    """The column count, and which columns hold strings when any does (``3:nsn``)."""
    kinds = "".join("s" if spec.kind(c) in ("s", "b") else "n" for c in spec.columns)
    return (f"{len(kinds)}:{kinds}" if "s" in kinds else str(len(kinds))).encode()


def _encode(spec: SeriesSpec, events: pa.Table, column: str) -> list[bytes]:
    """A column of events as script arguments: decimal text for numbers, ``s`` + bytes
    for strings, microseconds or days for times and dates (b"" for null)."""
    col = events.column(column)
    typ = col.type
    kind = spec.kind(column)
    want = {
        "n": "numeric values (numbers or booleans)",
        "s": "strings",
        "b": "binaries",
        "t": "timestamps",
        "d": "dates",
    }[kind]
    if column_kind(typ) != kind and not (kind in ("s", "b") and column_kind(typ) in ("s", "b")):
        raise InvalidInputError(
            f"column {column!r} has type {typ}; the series {spec.table!r} holds {want} there"
        )
    if kind == "n":
        return _text(col)
    if kind == "t":
        micros = _micros(col, column)
        if (
            len(micros)
            and max(abs(pc.min(micros).as_py() or 0), abs(pc.max(micros).as_py() or 0)) >= 2**53
        ):
            raise InvalidInputError(
                f"column {column!r}: a timestamp is out of range; tiles hold the years 1685-2255"
            )
        return _text(micros)
    if kind == "d":
        return _text(col.cast(pa.int32()).cast(pa.int64()))
    joined = pc.binary_join_element_wise(pa.scalar(b"s"), col.cast(pa.binary()), b"")
    out: list[bytes] = pc.fill_null(joined, b"").to_pylist()
    return out


def _values(series: SeriesSpec, s_i: int, rows: list[Any]) -> pa.Array:
    """Aggregate `s_i` of each reply row, as an array of its output type."""
    spec = series.specs[s_i]
    col = [row[2 + s_i] for row in rows]
    typ = _output_type(spec, series)
    kind = "n" if spec.function == "count" else series.kind(spec.column)
    if kind == "n":
        if typ is _INT64:
            return pa.array([None if v is None else int(float(v)) for v in col], _INT64)
        return pa.array([None if v is None else float(v) for v in col], _FLOAT64)
    if kind in ("s", "b"):
        raw = [None if v is None else bytes(v)[1:] for v in col]
        return pa.array(raw, pa.binary()).cast(typ)
    ints = pa.array([None if v is None else int(float(v)) for v in col], _INT64)
    if kind == "d":
        return ints.cast(pa.int32()).cast(typ)
    return ints.cast(pa.timestamp("us", tz=typ.tz)).cast(typ)  # type: ignore[attr-defined]


def _windows(spec: SeriesSpec) -> list[bytes]:
    """The count and the distinct windows of `spec`, as script arguments."""
    distinct = sorted({s.window_us for s in spec.specs})
    return [str(len(distinct)).encode(), *(str(w).encode() for w in distinct)]


def _layout(spec: SeriesSpec) -> bytes:
    """What a series' stored tiles depend on: the tile size, the columns in order, and
    which of them hold strings."""
    layout = f"{spec.tile_us}|{','.join(spec.columns)}".encode()
    columns = _lua_columns(spec)
    return layout + b"|" + columns.split(b":")[1] if b":" in columns else layout


def _read_args(spec: SeriesSpec) -> list[bytes]:
    """The read script's arguments after the request time, made once per spec object:
    a signature of the rest (a kept answer is reused only for the same question), then
    the tile size, the columns and the aggregates."""
    seen = _ARGS.get(id(spec))
    if seen is not None and seen[0] is spec:
        return seen[1]
    index = {c: i + 1 for i, c in enumerate(spec.columns)}
    args = [
        str(spec.tile_us).encode(),
        _lua_columns(spec),
        str(len(spec.specs)).encode(),
    ]
    for s in spec.specs:
        args += [str(index[s.column]).encode(), s.function.encode(), str(s.window_us).encode()]
    args.append(_layout(spec))
    args.insert(0, hashlib.sha1(b"\0".join(args)).hexdigest()[:16].encode())
    if len(_ARGS) > 1024:
        _ARGS.clear()
    _ARGS[id(spec)] = (spec, args)
    return args


def _schema(spec: SeriesSpec) -> pa.Schema:
    """The read's schema for `spec`, made once per spec object."""
    seen = _SCHEMAS.get(id(spec))
    if seen is not None and seen[0] is spec:
        return seen[1]
    fields = [pa.field(s.output, _output_type(s, spec)) for s in spec.specs]
    fields += [pa.field(EVENT_TS_COLUMN, _UTC_US), pa.field(COMMIT_COLUMN, _STRING)]
    schema = pa.schema(fields)
    if len(_SCHEMAS) > 1024:
        _SCHEMAS.clear()
    _SCHEMAS[id(spec)] = (spec, schema)
    return schema


class TileStore:
    """Aggregation series over a `RedisOnlineStore` (its connections and key prefix)."""

    def __init__(self, store: RedisOnlineStore) -> None:
        self._store = store
        self._loaded: set[bytes] = set()
        self._per_call = min(_KEYS_PER_CALL, store.max_script_keys)

    def _key(self, table: str, key: bytes) -> bytes:
        _check_name("table", table)
        return self._store._entity_key(f"{self._store.key_prefix}:{table}~tiles:".encode(), key)

    def _run(
        self,
        sha: bytes,
        commands: list[tuple[list[bytes], list[bytes]]],
        sent: list[Any] | None = None,
    ) -> list[Any]:
        """One round trip of EVALSHA calls, loading the script once if the server lacks it.

        ``sent``: the replies of these calls already sent in another reader's round trip.
        """

        def payload() -> list[bytes]:
            return [pack("EVALSHA", sha, str(len(keys)), *keys, *args) for keys, args in commands]

        if not commands:
            return []
        if sent is None and sha not in self._loaded:
            # once per store: a write's payload is not sent twice to learn the script is missing
            self._store._command("SCRIPT", "LOAD", _SCRIPTS[sha])
            self._loaded.add(sha)
        replies = self._store._exchange(payload(), len(commands)) if sent is None else sent
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
            self._store._command("SCRIPT", "LOAD", _SCRIPTS[sha])
            replies = self._store._exchange(payload(), len(commands))
        for reply in replies:
            if isinstance(reply, redis.ResponseError) and str(reply).startswith("EARLY"):
                kept, needed = (int(x) for x in str(reply).split()[1:3])
                raise InvalidInputError(
                    f"a windowed aggregate at this request time needs events after "
                    f"{_iso(needed)}, but the online store keeps an entity's events only after "
                    f"{_iso(kept)} (the materialization's window, or the widest window before "
                    "the newest event); look up at a later time, or use "
                    "get_historical_features for the past"
                ) from reply
            if isinstance(reply, redis.ResponseError) and str(reply).startswith("LAYOUT"):
                raise InvalidInputError(
                    "an aggregation series was stored with another tile size or columns "
                    f"({str(reply)[7:]}) than its definition now gives; materialize the view "
                    "again (that replaces each entity's series)"
                ) from reply
            if isinstance(reply, redis.ResponseError):
                raise CommandError(
                    f"Redis at {self._store.where} rejected an aggregation script: {reply}. "
                    "If a key holds another type, remove keys under "
                    f"{self._store.key_prefix!r}"
                ) from reply
        return replies

    def _grouped(self, spec: SeriesSpec, events: pa.Table) -> dict[bytes, list[list[bytes]]]:
        for name in (KEY_COLUMN, TS_COLUMN, *spec.columns):
            if name not in events.column_names:
                raise InvalidInputError(
                    f"events for {spec.table!r} lack column {name!r}; pass {KEY_COLUMN}, "
                    f"{TS_COLUMN}, optionally {CREATED_COLUMN}, and {list(spec.columns)}"
                )
        n = events.num_rows
        key_col = events.column(KEY_COLUMN)
        ts_col = _micros(events.column(TS_COLUMN), TS_COLUMN)
        if key_col.null_count or ts_col.null_count:
            raise InvalidInputError(
                f"events for {spec.table!r} have a null {KEY_COLUMN} or {TS_COLUMN}; "
                "give every event its entity key and event time"
            )
        if n and max(abs(pc.min(ts_col).as_py()), abs(pc.max(ts_col).as_py())) >= 2**53:
            raise InvalidInputError(
                f"events for {spec.table!r}: an event time is out of range; tiles hold "
                "the years 1685-2255"
            )
        created = (
            _micros(events.column(CREATED_COLUMN), CREATED_COLUMN)
            if CREATED_COLUMN in events.column_names
            else pa.nulls(n, pa.int64())
        )
        texts = [_text(ts_col), _text(created)]
        texts += [_encode(spec, events, c) for c in spec.columns]
        grouped: dict[bytes, list[list[bytes]]] = {}
        for k, row in zip(key_col.to_pylist(), zip(*texts, strict=True), strict=True):
            grouped.setdefault(k, []).append(row)  # type: ignore[arg-type]
        return grouped

    def _write(
        self,
        mode: bytes,
        spec: SeriesSpec,
        keys: Sequence[bytes],
        grouped: dict[bytes, list[list[bytes]]],
        commit: str | None,
        since_us: int | None = None,
    ) -> tuple[int, int]:
        head = [
            mode,
            str(spec.tile_us).encode(),
            str(spec.widest_us).encode(),
            _lua_columns(spec),
            (commit or "").encode(),
            *_windows(spec),
            _layout(spec),
            b"" if since_us is None else str(since_us).encode(),
        ]
        commands = []
        for i in range(0, len(keys), self._per_call):
            chunk = keys[i : i + self._per_call]
            args = list(head)
            for k in chunk:
                rows = grouped.get(k, [])
                args.append(str(len(rows)).encode())
                for row in rows:
                    args.extend(row)
            commands.append(([self._key(spec.table, k) for k in chunk], args))
        added = dups = 0
        for reply in self._run(_WRITE_SHA, commands):
            added += int(reply[0])
            dups += int(reply[1])
        return added, dups

    def replace(
        self,
        spec: SeriesSpec,
        keys: Sequence[bytes],
        events: pa.Table,
        commit: str | None,
        since_us: int | None = None,
    ) -> int:
        """Replace each listed entity's series by these events, atomically per entity.

        Entities listed in `keys` without rows are cleared. `since_us`: the events given
        are all there were after this time (a materialization's window), so a read whose
        window reaches before it is refused rather than answered short. Returns events
        stored.
        """
        grouped = self._grouped(spec, events)
        listed = {bytes(k) for k in keys}
        stray = [k for k in grouped if k not in listed]
        if stray:
            raise InvalidInputError(
                f"replace of {spec.table!r} got events for {len(stray)} keys not in `keys`; "
                "list every entity whose series is replaced"
            )
        return self._write(b"r", spec, [bytes(k) for k in keys], grouped, commit, since_us)[0]

    def fold(self, spec: SeriesSpec, events: pa.Table) -> tuple[int, int]:
        """Add events to their entities' series; the same identity twice counts once.

        An identity seen before with other values replaces them (a correction). Events
        older than the newest minus the widest window are dropped. Returns (added, dups).
        """
        grouped = self._grouped(spec, events)
        return self._write(b"f", spec, list(grouped), grouped, None)

    def _read_commands(
        self, spec: SeriesSpec, keys: Sequence[bytes], at_us: int
    ) -> list[tuple[list[bytes], list[bytes]]]:
        args = [str(at_us).encode(), *_read_args(spec)]
        return [
            ([self._key(spec.table, k) for k in keys[i : i + self._per_call]], args)
            for i in range(0, len(keys), self._per_call)
        ]

    @staticmethod
    def _decode(spec: SeriesSpec, rows: list[Any]) -> pa.Table:
        arrays = [_values(spec, s_i, rows) for s_i in range(len(spec.specs))]
        arrays.append(pa.array([None if r[1] is None else int(r[1]) for r in rows], _UTC_US))
        arrays.append(
            pa.array([None if r[0] is None else bytes(r[0]).decode() for r in rows], _STRING)
        )
        return pa.Table.from_arrays(arrays, schema=_schema(spec))

    def read(self, spec: SeriesSpec, keys: Sequence[bytes], at_us: int) -> pa.Table:
        """Each key's aggregates at `at_us`, one row per key (count 0 when no events)."""
        return self.read_many([(spec, keys)], at_us)[0]

    def read_many(
        self, requests: Sequence[tuple[SeriesSpec, Sequence[bytes]]], at_us: int
    ) -> list[pa.Table]:
        """`read` of several series in one round trip."""
        return self.pending_read(requests, at_us).finish(None)

    def pending_read(
        self, requests: Sequence[tuple[SeriesSpec, Sequence[bytes]]], at_us: int
    ) -> PendingRead:
        """`read_many` as packed commands, to send in another reader's round trip (see
        `PreparedRead.read_columns_with`), then ``finish`` with their replies."""
        if abs(at_us) >= 2**53:
            raise InvalidInputError(f"request time {at_us} us is out of range (years 1685-2255)")
        return PendingRead(self, requests, at_us)

    def _finish_read(
        self,
        requests: Sequence[tuple[SeriesSpec, Sequence[bytes]]],
        plans: list[list[tuple[list[bytes], list[bytes]]]],
        sent: list[Any] | None,
    ) -> list[pa.Table]:
        replies = self._run(_READ_SHA, [c for plan in plans for c in plan], sent)
        out = []
        pos = 0
        for (spec, _), plan in zip(requests, plans, strict=True):
            rows: list[Any] = []
            for _ in plan:
                rows.extend(replies[pos])
                pos += 1
            out.append(self._decode(spec, rows))
        return out

    def _finish_columns(
        self,
        requests: Sequence[tuple[SeriesSpec, Sequence[bytes]]],
        plans: list[list[tuple[list[bytes], list[bytes]]]],
        sent: list[Any] | None,
    ) -> list[dict[str, list[Any]]]:
        replies = self._run(_READ_SHA, [c for plan in plans for c in plan], sent)
        out = []
        pos = 0
        for (spec, _), plan in zip(requests, plans, strict=True):
            rows: list[Any] = []
            for _ in plan:
                rows.extend(replies[pos])
                pos += 1
            columns: dict[str, list[Any]] = {}
            for s_i, s in enumerate(spec.specs):
                if spec.types and spec.kind(s.column) != "n" and s.function != "count":
                    columns[s.output] = _values(spec, s_i, rows).to_pylist()
                    continue
                col = [row[2 + s_i] for row in rows]
                if _output_type(s) is _INT64:
                    columns[s.output] = [None if v is None else int(float(v)) for v in col]
                else:
                    columns[s.output] = [None if v is None else float(v) for v in col]
            columns[EVENT_TS_COLUMN] = [
                None if r[1] is None else _EPOCH + timedelta(microseconds=int(r[1])) for r in rows
            ]
            columns[COMMIT_COLUMN] = [None if r[0] is None else bytes(r[0]).decode() for r in rows]
            out.append(columns)
        return out

    def delete(self, table: str, keys: Sequence[bytes]) -> int:
        """Remove these entities' series of `table`; returns how many existed."""
        step = 1000
        total = 0
        for i in range(0, len(keys), step):
            total += int(
                self._store._command("UNLINK", *(self._key(table, k) for k in keys[i : i + step]))
            )
        return total


class PendingRead:
    """Reads of series, packed to travel in another reader's round trip."""

    __slots__ = ("_plans", "_requests", "_tiles", "payload", "replies")

    def __init__(
        self,
        tiles: TileStore,
        requests: Sequence[tuple[SeriesSpec, Sequence[bytes]]],
        at_us: int,
    ) -> None:
        self._tiles = tiles
        self._requests = list(requests)
        self._plans = [tiles._read_commands(spec, keys, at_us) for spec, keys in requests]
        commands = [c for plan in self._plans for c in plan]
        self.payload = b"".join(
            pack("EVALSHA", _READ_SHA, str(len(keys)), *keys, *args) for keys, args in commands
        )
        self.replies = len(commands)

    def finish(self, replies: list[Any] | None) -> list[pa.Table]:
        """Each request's table from the replies to ``payload`` (None: send it now)."""
        return self._tiles._finish_read(self._requests, self._plans, replies)

    def finish_columns(self, replies: list[Any] | None) -> list[dict[str, list[Any]]]:
        """``finish`` as Python values, column name -> one value per key (no Arrow): what
        ``finish(...)[i].to_pydict()`` gives."""
        return self._tiles._finish_columns(self._requests, self._plans, replies)
