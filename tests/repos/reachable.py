"""What every GC test checks afterwards: each object of each reachable commit reads back."""

from __future__ import annotations

import hashlib

from repos import Repository
from repos._graph import ancestors


def everything_reads(repo: Repository) -> int:
    """Every object of every commit a branch or tag reaches reads back with its checksum;
    each distinct object is read once. Returns the number of distinct objects."""
    heads = [b.resolve() for b in repo.branches()] + [t.resolve() for t in repo.tags()]
    where: dict[str, tuple[str, str]] = {}
    for cid in sorted(ancestors(repo._load, heads)):
        for o in repo.ref(cid).objects():
            where.setdefault(o.checksum, (cid, o.path))
    for checksum, (cid, path) in where.items():
        data = repo.ref(cid).object(path).read()
        assert hashlib.sha256(data).hexdigest() == checksum, (cid, path)
    return len(where)
