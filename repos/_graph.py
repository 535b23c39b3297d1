"""The commit DAG: canonical commit records, ancestry walks, merge base."""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

from repos.models import Commit

# Loads the commits (and their generation numbers) for the given ids.
Loader = Callable[[Iterable[str]], Mapping[str, tuple[Commit, int]]]


def commit_id(
    parents: tuple[str, ...],
    message: str,
    metadata: Mapping[str, str],
    author: str,
    creation_date: datetime,
    meta_range_id: str,
) -> str:
    """The sha256 of the canonical (sorted-keys JSON) commit record."""
    record = {
        "author": author,
        "creation_date": creation_date.isoformat(),
        "message": message,
        "metadata": dict(sorted(metadata.items())),
        "meta_range_id": meta_range_id,
        "parents": list(parents),
    }
    data = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def ancestors(load: Loader, starts: Iterable[str]) -> set[str]:
    """Every commit reachable from ``starts`` (inclusive), loading a frontier per query."""
    seen: set[str] = set()
    frontier = set(starts)
    while frontier:
        seen |= frontier
        loaded = load(frontier)
        frontier = {p for cid in frontier for p in loaded[cid][0].parents} - seen
    return seen


def merge_base(load: Loader, a: str, b: str) -> str | None:
    """A lowest common ancestor of ``a`` and ``b`` (highest generation, then smallest id).

    The walk from ``b`` does not descend below a common ancestor: anything below one has
    a lower generation, so it cannot be the best.
    """
    anc_a = ancestors(load, [a])
    best: tuple[int, str] | None = None
    seen = {b}
    frontier = {b}
    while frontier:
        loaded = load(frontier)
        nxt: set[str] = set()
        for cid in frontier:
            commit, gen = loaded[cid]
            if cid in anc_a:
                if best is None or (gen, _neg(cid)) > (best[0], _neg(best[1])):
                    best = (gen, cid)
                continue
            for p in commit.parents:
                if p not in seen:
                    seen.add(p)
                    nxt.add(p)
        frontier = nxt
    return None if best is None else best[1]


def _neg(cid: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in cid)


def walk(load: Loader, start: str, first_parent: bool = False) -> Iterator[Commit]:
    """Commits from ``start`` back, children before parents (by generation, then date)."""
    first = load([start])[start]
    heap: list[tuple[int, float, str]] = [(-first[1], -first[0].creation_date.timestamp(), start)]
    seen = {start}
    while heap:
        _, _, cid = heapq.heappop(heap)
        commit = load([cid])[cid][0]
        yield commit
        parents = commit.parents[:1] if first_parent else commit.parents
        fresh = [p for p in parents if p not in seen]
        if not fresh:
            continue
        loaded = load(fresh)
        for p in fresh:
            seen.add(p)
            pc, gen = loaded[p]
            heapq.heappush(heap, (-gen, -pc.creation_date.timestamp(), p))
