"""Merge base and three-way merge on random histories, against a model in plain dicts."""

from __future__ import annotations

import tempfile
from typing import Literal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from repos import MergeConflictError, Repository
from repos._graph import merge_base

PATHS = ["a", "b", "c/d", "c/e"]
VALUES = [b"1", b"2", None]  # None: deleted

Tree = dict[str, bytes]


class Model:
    """A commit DAG of plain dicts: id -> (parents, tree)."""

    def __init__(self) -> None:
        self.commits: dict[str, tuple[tuple[str, ...], Tree]] = {}

    def ancestors(self, cid: str) -> set[str]:
        out, stack = set(), [cid]
        while stack:
            c = stack.pop()
            if c not in out:
                out.add(c)
                stack.extend(self.commits[c][0])
        return out

    def lowest_common_ancestors(self, a: str, b: str) -> set[str]:
        common = self.ancestors(a) & self.ancestors(b)
        return {c for c in common if not any(c in self.ancestors(d) - {d} for d in common)}

    @staticmethod
    def merge(base: Tree, src: Tree, dst: Tree, strategy: str | None) -> tuple[Tree, set[str]]:
        out: Tree = {}
        conflicts = set()
        for p in set(base) | set(src) | set(dst):
            b, s, d = base.get(p), src.get(p), dst.get(p)
            if s in (b, d):
                v = d
            elif d == b:
                v = s
            elif strategy is None:
                conflicts.add(p)
                v = d
            else:
                v = s if strategy == "source-wins" else d
            if v is not None:
                out[p] = v
        return out, conflicts


def read_tree(repo: Repository, ref: str) -> Tree:
    r = repo.ref(ref)
    return {o.path: r.object(o.path).read() for o in r.objects()}


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_merges_match_the_model(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = Repository.create(folder)
        model = Model()
        root = repo.branch("main").resolve()
        model.commits[root] = ((), {})
        heads = {"main": root}
        for _ in range(data.draw(st.integers(8, 24), label="steps")):
            kind = data.draw(st.sampled_from(["commit", "commit", "branch", "merge", "merge"]))
            if kind == "branch" and len(heads) < 4:
                src = data.draw(st.sampled_from(sorted(heads)))
                name = f"b{len(heads)}"
                repo.branch(name).create(src)
                heads[name] = heads[src]
            elif kind == "merge" and len(heads) > 1:
                src, dst = data.draw(st.permutations(sorted(heads)))[:2]
                strategy: Literal["source-wins", "dest-wins"] | None = data.draw(
                    st.sampled_from([None, None, "source-wins", "dest-wins"])
                )
                base = merge_base(repo._load, heads[src], heads[dst])
                assert base in model.lowest_common_ancestors(heads[src], heads[dst])
                assert base is not None
                expected, conflicts = Model.merge(
                    model.commits[base][1],
                    model.commits[heads[src]][1],
                    model.commits[heads[dst]][1],
                    strategy,
                )
                event("conflict" if conflicts else "clean merge")
                if len(model.lowest_common_ancestors(heads[src], heads[dst])) > 1:
                    event("several merge bases")
                if conflicts:
                    with pytest.raises(MergeConflictError) as err:
                        repo.branch(src).merge_into(dst, strategy=strategy, allow_empty=True)
                    assert set(err.value.paths) == conflicts
                    assert repo.branch(dst).resolve() == heads[dst]
                    continue
                m = repo.branch(src).merge_into(dst, strategy=strategy, allow_empty=True)
                assert m.parents == (heads[dst], heads[src])
                assert read_tree(repo, dst) == expected
                model.commits[m.id] = (m.parents, expected)
                heads[dst] = m.id
            else:
                name = data.draw(st.sampled_from(sorted(heads)))
                writes = data.draw(
                    st.dictionaries(
                        st.sampled_from(PATHS), st.sampled_from(VALUES), min_size=1, max_size=3
                    )
                )
                branch = repo.branch(name)
                branch.upload_many({p: v for p, v in writes.items() if v is not None})
                branch.delete_objects([p for p, v in writes.items() if v is None])
                tree = dict(model.commits[heads[name]][1])
                for p, v in writes.items():
                    if v is None:
                        tree.pop(p, None)
                    else:
                        tree[p] = v
                c = branch.commit("change", allow_empty=True)
                assert c.parents == (heads[name],)
                assert read_tree(repo, name) == tree
                model.commits[c.id] = (c.parents, tree)
                heads[name] = c.id
        repo.close()
