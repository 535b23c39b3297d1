"""An object store's listing for GC: what the mark keeps is left out, the rest is listed
with its size and age, on a local folder and an fsspec filesystem."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from repos._objects import FsspecObjectStore, LocalObjectStore, ObjectStore


@pytest.mark.parametrize("kind", ["local", "fsspec"])
def test_listing_leaves_out_what_it_is_told_to_skip(tmp_path: Path, kind: str) -> None:
    store: ObjectStore = (
        LocalObjectStore(tmp_path)
        if kind == "local"
        else FsspecObjectStore(f"memory://listing-{uuid.uuid4().hex}/repo")
    )
    ids = [store.put_bytes(f"object {k}".encode())[0] for k in range(5)]
    everything = {c: (z, m) for c, z, m in store.list()}
    assert set(everything) == set(ids)
    assert all(z == len("object 0") and m <= time.time() + 1 for z, m in everything.values())
    kept = set(ids[:3])
    listed = {c: (z, m) for c, z, m in store.list(skip=kept)}
    assert listed == {c: everything[c] for c in ids[3:]}
    store.delete(ids[4])
    assert [c for c, _, _ in store.list(skip=kept)] == [ids[3]]
