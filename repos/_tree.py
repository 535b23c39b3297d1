"""A commit's tree as a meta-range: sorted ranges of ``path -> (checksum, size)``.

Each range and each meta-range is an immutable, content-addressed object. Ranges end
on content-defined boundaries (a path whose hash hits ``1/TARGET``) or after
``4 * TARGET`` entries, so applying a few changes rewrites only the ranges they touch plus the
meta-range, and unchanged ranges are shared between commits.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import itertools
import json
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

from repos._objects import ObjectStore
from repos.errors import NotFoundError

TARGET = 1024


Entry = tuple[str, int]  # (checksum, size)


@dataclass(frozen=True)
class RangeRef:
    """One range of a meta-range: its object id, first and last path, entry count."""

    id: str
    min_path: str
    max_path: str
    count: int

    @cached_property
    def encoded(self) -> str:
        """This ref as a JSON array, kept so a meta-range is re-encoded by a join."""
        enc = json.encoder.encode_basestring_ascii  # json.dumps's own, without its overhead
        return f"[{enc(self.id)}, {enc(self.min_path)}, {enc(self.max_path)}, {self.count}]"


@dataclass(frozen=True)
class Range:
    """The parsed entries of one range, sorted by path."""

    paths: list[str]
    checksums: list[str]
    sizes: list[int]


@dataclass(frozen=True)
class MetaRange:
    """The parsed ranges of one tree, sorted by path."""

    ranges: tuple[RangeRef, ...]
    max_paths: list[str]


def _path_hash(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "little")


class _LRU(OrderedDict[str, object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def touch(self, key: str) -> None:
        with contextlib.suppress(KeyError):  # another thread may have evicted it
            self.move_to_end(key)

    def put(self, key: str, value: object) -> None:
        self[key] = value
        self.touch(key)
        while len(self) > self.size:
            try:
                self.popitem(last=False)
            except KeyError:
                break


class TreeStore:
    """Reads and writes ranges and meta-ranges in an object store (with an LRU cache)."""

    def __init__(
        self,
        store: ObjectStore,
        cache_size: int = 4096,
        target: int = TARGET,
        admit: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self.store = store
        self._admit = admit  # records upload intents for objects about to land
        self.target = target
        self.max_entries = 4 * target
        self._cache = _LRU(cache_size)

    def _read(self, object_id: str) -> bytes:
        try:
            return self.store.get(object_id)
        except FileNotFoundError as e:
            raise NotFoundError(
                f"tree object {object_id[:12]} is missing from storage: its commit was "
                "garbage-collected (no branch or tag reaches it) or the storage lost it"
            ) from e

    def forget(self, object_id: str) -> None:
        """Drop a (deleted) range or meta-range from the cache."""
        self._cache.pop("m" + object_id, None)
        self._cache.pop("r" + object_id, None)

    # -- objects -------------------------------------------------------------------
    def meta(self, meta_id: str) -> MetaRange:
        hit = self._cache.get("m" + meta_id)
        if isinstance(hit, MetaRange):
            self._cache.touch("m" + meta_id)
            return hit
        raw = json.loads(self._read(meta_id))
        refs = tuple(RangeRef(r[0], r[1], r[2], r[3]) for r in raw["ranges"])
        meta = MetaRange(refs, [r.max_path for r in refs])
        self._cache.put("m" + meta_id, meta)
        return meta

    def range(self, range_id: str) -> Range:
        hit = self._cache.get("r" + range_id)
        if isinstance(hit, Range):
            self._cache.touch("r" + range_id)
            return hit
        raw = json.loads(self._read(range_id))
        rng = Range(raw[0], raw[1], raw[2])
        self._cache.put("r" + range_id, rng)
        return rng

    def _write_range(
        self,
        paths: list[str],
        checksums: list[str],
        sizes: list[int],
        pending: list[tuple[str, bytes, object]],
    ) -> RangeRef:
        data = json.dumps([paths, checksums, sizes], separators=(",", ":")).encode()
        range_id = hashlib.sha256(data).hexdigest()
        pending.append(("r" + range_id, data, Range(paths, checksums, sizes)))
        return RangeRef(range_id, paths[0], paths[-1], len(paths))

    def write_meta(
        self, refs: Sequence[RangeRef], pending: list[tuple[str, bytes, object]] | None = None
    ) -> str:
        data = ('{"ranges":[' + ",".join(r.encoded for r in refs) + "]}").encode()
        meta_id = hashlib.sha256(data).hexdigest()
        todo = [] if pending is None else pending
        todo.append(("m" + meta_id, data, MetaRange(tuple(refs), [r.max_path for r in refs])))
        self._flush(todo)
        return meta_id

    def _flush(self, pending: list[tuple[str, bytes, object]]) -> None:
        """Record the intents of all new tree objects at once, then land them."""
        if self._admit is not None:
            self._admit([key[1:] for key, _, _ in pending])
        for key, data, parsed in pending:
            self.store.put_bytes(data)
            self._cache.put(key, parsed)

    def empty(self) -> str:
        return self.write_meta(())

    # -- reads ---------------------------------------------------------------------
    def lookup(self, meta_id: str, path: str) -> Entry | None:
        meta = self.meta(meta_id)
        i = bisect.bisect_left(meta.max_paths, path)
        if i == len(meta.ranges):
            return None
        rng = self.range(meta.ranges[i].id)
        j = bisect.bisect_left(rng.paths, path)
        if j < len(rng.paths) and rng.paths[j] == path:
            return rng.checksums[j], rng.sizes[j]
        return None

    def entries(
        self, meta_id: str, prefix: str = "", after: str = ""
    ) -> Iterator[tuple[str, str, int]]:
        """Yield ``(path, checksum, size)`` sorted by path, for paths under ``prefix`` and
        greater than ``after`` (found by bisection: nothing before it is read)."""
        meta = self.meta(meta_id)
        start = bisect.bisect_left(meta.max_paths, prefix)
        if after:
            start = max(start, bisect.bisect_right(meta.max_paths, after))
        for ref in meta.ranges[start:]:
            if prefix and ref.min_path > prefix and not ref.min_path.startswith(prefix):
                return
            rng = self.range(ref.id)
            j = bisect.bisect_left(rng.paths, prefix) if prefix else 0
            if after:
                j = max(j, bisect.bisect_right(rng.paths, after))
            for k in range(j, len(rng.paths)):
                p = rng.paths[k]
                if prefix and not p.startswith(prefix):
                    return
                yield p, rng.checksums[k], rng.sizes[k]

    def diff(
        self, left: str, right: str, prefix: str = ""
    ) -> Iterator[tuple[str, Entry | None, Entry | None]]:
        """Yield ``(path, left entry, right entry)`` for every path that differs, sorted.

        Ranges both trees share are skipped; the others are compared a segment at a time
        (the ranges of each side up to a common last path). Where a segment holds the same
        paths on both sides (changes that replaced objects), its entries are compared
        column-wise at C speed rather than by a path-by-path merge.
        """
        if left == right:
            return
        lm, rm = self.meta(left), self.meta(right)
        shared = {r.id for r in lm.ranges} & {r.id for r in rm.ranges}
        for lo, ro in _segments(_own(lm, shared, prefix), _own(rm, shared, prefix)):
            a, b = self._columns(lo, prefix), self._columns(ro, prefix)
            if a[0] == b[0]:
                yield from _changed_in_place(a, b)
            else:
                yield from _merge_walk(a, b)

    def _columns(self, refs: list[RangeRef], prefix: str) -> _Columns:
        """The paths, checksums and sizes of ``refs`` under ``prefix``, concatenated."""
        paths: list[str] = []
        checksums: list[str] = []
        sizes: list[int] = []
        for ref in refs:
            rng = self.range(ref.id)
            j, k = 0, len(rng.paths)
            if prefix:  # sorted: the prefix's paths are one run from its bisection
                j = bisect.bisect_left(rng.paths, prefix)
                k = bisect.bisect_left(rng.paths, prefix + "\U0010ffff", j)
                while k < len(rng.paths) and rng.paths[k].startswith(prefix):
                    k += 1  # a path with the highest code point after the prefix
            paths += rng.paths[j:k]
            checksums += rng.checksums[j:k]
            sizes += rng.sizes[j:k]
        return paths, checksums, sizes

    # -- writes --------------------------------------------------------------------
    def apply(self, meta_id: str, ops: Iterable[tuple[str, Entry | None]]) -> str:
        """Write the tree ``meta_id`` with ``ops`` (path -> entry, None deletes) applied.

        Only ranges holding a changed path are re-read and re-chunked (plus a following
        one while the chunker is out of step with the old boundaries).
        """
        meta = self.meta(meta_id)
        ops_sorted = sorted(ops)
        if not ops_sorted:
            return meta_id
        n = len(meta.ranges)
        by_range: dict[int, list[tuple[str, Entry | None]]] = {}
        for path, entry in ops_sorted:
            i = min(bisect.bisect_left(meta.max_paths, path), max(n - 1, 0))
            by_range.setdefault(i, []).append((path, entry))

        out: list[RangeRef] = []
        pending: list[tuple[str, bytes, object]] = []
        buf_p: list[str] = []
        buf_c: list[str] = []
        buf_s: list[int] = []

        def feed(path: str, checksum: str, size: int, interior: bool = False) -> None:
            # A path inside an existing range is known not to be a boundary.
            buf_p.append(path)
            buf_c.append(checksum)
            buf_s.append(size)
            if len(buf_p) >= self.max_entries or (
                not interior and _path_hash(path) % self.target == 0
            ):
                out.append(self._write_range(buf_p.copy(), buf_c.copy(), buf_s.copy(), pending))
                buf_p.clear()
                buf_c.clear()
                buf_s.clear()

        if n == 0:
            for path, entry in ops_sorted:
                if entry is not None:
                    feed(path, entry[0], entry[1])
        touched = sorted(by_range)
        i = 0
        while i < n:
            ref = meta.ranges[i]
            changes = by_range.get(i)
            if changes is None and not buf_p:
                j = bisect.bisect_right(touched, i)
                stop = touched[j] if j < len(touched) else n
                out.extend(meta.ranges[i:stop])  # untouched ranges are shared as they are
                i = stop
                continue
            rng = self.range(ref.id)
            if changes is not None and not buf_p:
                patched = _patched(rng, changes)
                if patched is not None:  # the same paths: the same boundaries
                    out.append(self._write_range(rng.paths, *patched, pending))
                    i += 1
                    continue
            last = len(rng.paths) - 1
            if changes is None:
                for k in range(last + 1):
                    feed(rng.paths[k], rng.checksums[k], rng.sizes[k], k < last)
            else:
                interior = set(rng.paths[:last])
                merged = dict(
                    zip(rng.paths, zip(rng.checksums, rng.sizes, strict=True), strict=True)
                )
                for path, entry in changes:
                    if entry is None:
                        merged.pop(path, None)
                    else:
                        merged[path] = entry
                for p in sorted(merged):
                    c, s = merged[p]
                    feed(p, c, s, p in interior)
            i += 1
        if buf_p:
            out.append(self._write_range(buf_p.copy(), buf_c.copy(), buf_s.copy(), pending))
        return self.write_meta(out, pending)


_Columns = tuple[list[str], list[str], list[int]]


def _own(meta: MetaRange, shared: set[str], prefix: str) -> list[RangeRef]:
    """The ranges of ``meta`` not in ``shared`` that may hold paths under ``prefix``."""
    out = []
    for ref in meta.ranges:
        if ref.id in shared or ref.max_path < prefix:
            continue
        if prefix and ref.min_path > prefix and not ref.min_path.startswith(prefix):
            break
        out.append(ref)
    return out


def _segments(
    left: list[RangeRef], right: list[RangeRef]
) -> Iterator[tuple[list[RangeRef], list[RangeRef]]]:
    """Consecutive groups of both sides' ranges, each ending at a path where both sides'
    ranges end (or at the end), so a path on both sides falls in the same group."""
    i = j = 0
    while i < len(left) or j < len(right):
        if i == len(left) or j == len(right):
            yield left[i:], right[j:]
            return
        i0, j0 = i, j
        i, j = i + 1, j + 1
        while left[i - 1].max_path != right[j - 1].max_path:
            if left[i - 1].max_path < right[j - 1].max_path:
                if i == len(left):
                    j = len(right)
                    break
                i += 1
            else:
                if j == len(right):
                    i = len(left)
                    break
                j += 1
        yield left[i0:i], right[j0:j]


def _changed_in_place(a: _Columns, b: _Columns) -> Iterator[tuple[str, Entry | None, Entry | None]]:
    """The differing entries of two segments with the same paths."""
    paths, ac, az = a
    _, bc, bz = b
    if ac == bc and az == bz:
        return
    idx = range(len(paths))
    changed = set(itertools.compress(idx, map(operator.ne, ac, bc)))
    changed.update(itertools.compress(idx, map(operator.ne, az, bz)))
    for k in sorted(changed):
        yield paths[k], (ac[k], az[k]), (bc[k], bz[k])


def _merge_walk(a: _Columns, b: _Columns) -> Iterator[tuple[str, Entry | None, Entry | None]]:
    """The differing entries of two sorted segments, path by path."""
    xs = zip(*a, strict=True)
    ys = zip(*b, strict=True)
    x, y = next(xs, None), next(ys, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            yield x[0], (x[1], x[2]), None
            x = next(xs, None)
        elif x is None or y[0] < x[0]:
            yield y[0], None, (y[1], y[2])
            y = next(ys, None)
        else:
            if (x[1], x[2]) != (y[1], y[2]):
                yield x[0], (x[1], x[2]), (y[1], y[2])
            x, y = next(xs, None), next(ys, None)


def _patched(
    rng: Range, changes: list[tuple[str, Entry | None]]
) -> tuple[list[str], list[int]] | None:
    """The checksums and sizes of ``rng`` with ``changes`` applied, when every change
    replaces the entry of a path the range holds (None when one adds or deletes)."""
    checksums: list[str] | None = None
    sizes: list[int] = []
    for path, entry in changes:
        k = bisect.bisect_left(rng.paths, path)
        if entry is None or k == len(rng.paths) or rng.paths[k] != path:
            return None
        if checksums is None:
            checksums, sizes = rng.checksums.copy(), rng.sizes.copy()
        checksums[k], sizes[k] = entry
    return (checksums, sizes) if checksums is not None else None
