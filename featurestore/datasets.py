"""Saved datasets: training sets kept in the repository with what they were built from.

Each lives on the ``saved-datasets`` branch as ``datasets/<name>/data.parquet`` plus
``meta.json`` (commit id, feature refs, definitions hash, entity rows' hash), committed
there so that later commits on any other branch never touch it.

The branch is internal: this module is its only writer. The facade and the CLI refuse
to delete it, write to it, commit, merge into or revert it (``refuse_internal``), and
leave it out of the branch listings users see (``is_internal``), so deleting "a
branch" can never delete every saved dataset.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.errors import ConflictError, NotFoundError, RefusedError, ValidationError
from featurestore.serving_log import SERVING_LOG_BRANCH

if TYPE_CHECKING:
    import fsspec
    import pandas as pd

    import repos
    from featurestore.retrieval import RetrievalJob

__all__ = ["DATASETS_BRANCH", "INTERNAL_BRANCHES", "SavedDataset", "is_internal", "refuse_internal"]

DATASETS_BRANCH = "saved-datasets"
INTERNAL_BRANCHES = frozenset({DATASETS_BRANCH, SERVING_LOG_BRANCH})
"""Branches the product keeps for itself: hidden from listings, changed only by it."""
_HOLDS = {
    DATASETS_BRANCH: "holds every saved dataset; it changes only through create_saved_dataset()",
    SERVING_LOG_BRANCH: "holds the serving log; only the feature services' logging writes it",
}
_PREFIX = "datasets/"
ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group: the training loader reads a saved dataset one group at a time."""
_NAME = re.compile(r"[A-Za-z][-\w]*")
"""Matched whole (``fullmatch``): ``$`` would also accept a trailing newline."""


@dataclass(frozen=True)
class SavedDataset:
    """A kept training set and the exact inputs it was built from."""

    name: str
    commit_id: str
    feature_refs: tuple[str, ...]
    definitions_hash: str
    entity_rows_hash: str
    num_rows: int
    created: datetime
    physical_address: str = field(repr=False)
    redacted: bool = False
    """An erasure removed rows from it (``featurestore.erasure``); ``commit_id`` is then
    the rewritten commit (the old id, which it was built from, resolves to it)."""
    filesystem: fsspec.AbstractFileSystem | None = field(default=None, repr=False, compare=False)
    """Reads ``physical_address`` when it is a URL (the repository's, on S3)."""

    def to_arrow(self) -> pa.Table:
        from offline import _fs

        return _fs.read_table(self.physical_address, self.filesystem)

    def parquet_file(self) -> pq.ParquetFile:
        """Its Parquet file (footer read; row groups on demand), wherever it is stored."""
        from offline import _fs

        return _fs.parquet_file(self.physical_address, self.filesystem)

    def to_pandas(self) -> pd.DataFrame:
        from featurestore.retrieval import to_pandas

        return to_pandas(self.to_arrow())


def is_internal(branch: str) -> bool:
    """Whether ``branch`` is one the product keeps for itself (saved datasets, serving log)."""
    return branch in INTERNAL_BRANCHES


def refuse_internal(branch: str, action: str) -> None:
    """Raise ``RefusedError`` if ``branch`` is internal; ``action`` says what was asked."""
    if is_internal(branch):
        raise RefusedError(
            f"cannot {action} branch {branch!r}: it is internal and {_HOLDS[branch]}. Use "
            "another branch (list them with `featurestore branch list`)"
        )


def _entity_hash(table: pa.Table, feature_columns: int) -> str:
    entity = table.select(table.schema.names[: table.num_columns - feature_columns])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, entity.schema) as writer:
        writer.write_table(entity)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _branch(repo: repos.Repository) -> repos.Branch:
    branch = repo.branch(DATASETS_BRANCH)
    return branch.create(repo.default_branch, exist_ok=True)


def save(repo: repos.Repository, job: RetrievalJob, name: str) -> SavedDataset:
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"dataset name {name!r}: use letters, digits, '_' and '-', starting with a letter"
        )
    if job.uncommitted:
        raise ValidationError(
            f"dataset {name!r}: the training set reads uncommitted writes of a branch, so it "
            "could not be rebuilt later; commit them, then build and save it again"
        )
    base = f"{_PREFIX}{name}/"
    if (
        DATASETS_BRANCH in [b.id for b in repo.branches()]
        and repo.ref(DATASETS_BRANCH).object(base + "meta.json").exists()
    ):
        raise ConflictError(f"a saved dataset named {name!r} exists; pick another name")
    table = job.to_arrow()
    branch = _branch(repo)
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS)
    meta = {
        "name": name,
        "commit_id": job.commit_id,
        "feature_refs": list(job.feature_refs),
        "definitions_hash": job.definitions_hash,
        "entity_rows_hash": _entity_hash(table, len(job.feature_refs)),
        "num_rows": table.num_rows,
        "created": datetime.now(UTC).isoformat(),
    }
    branch.upload_many(
        {base + "data.parquet": sink.getvalue(), base + "meta.json": json.dumps(meta).encode()}
    )
    try:
        branch.commit(
            f"save dataset {name}", metadata={"dataset": name, "source_commit": job.commit_id}
        )
    except Exception:
        branch.reset()
        raise
    return load(repo, name)


def _record(repo: repos.Repository, meta: Mapping[str, Any]) -> SavedDataset:
    ref = repo.ref(DATASETS_BRANCH)
    info = ref.object(f"{_PREFIX}{meta['name']}/data.parquet").stat()
    return SavedDataset(
        name=meta["name"],
        commit_id=repo.rewritten(meta["commit_id"]) or meta["commit_id"],
        feature_refs=tuple(meta["feature_refs"]),
        definitions_hash=meta["definitions_hash"],
        entity_rows_hash=meta["entity_rows_hash"],
        num_rows=meta["num_rows"],
        created=datetime.fromisoformat(meta["created"]),
        physical_address=info.physical_address,
        redacted=bool(meta.get("redacted", False)),
        filesystem=repo.filesystem,
    )


def load(repo: repos.Repository, name: str) -> SavedDataset:
    names = [b.id for b in repo.branches()]
    obj = repo.ref(DATASETS_BRANCH).object(f"{_PREFIX}{name}/meta.json")
    if DATASETS_BRANCH not in names or not obj.exists():
        raise NotFoundError(f"no saved dataset named {name!r}; list them with saved_datasets()")
    return _record(repo, json.loads(obj.read()))


def _scalar(key: str, value: Any, dtype: pa.DataType) -> Any:
    """``value`` as a Python value of the column's type, or a ValidationError."""
    try:
        return pa.scalar(value).cast(dtype).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise ValidationError(
            f"containing={{{key!r}: {value!r}}}: the datasets hold {key!r} as {dtype}; pass one "
            f"value of that type ({e})"
        ) from e


def list_saved(repo: repos.Repository, containing: Mapping[str, Any] | None) -> list[SavedDataset]:
    """Every saved dataset, or those with a row matching all ``containing`` values."""
    if DATASETS_BRANCH not in [b.id for b in repo.branches()]:
        return []
    ref = repo.ref(DATASETS_BRANCH)
    out = []
    for info in ref.objects(_PREFIX):
        if not info.path.endswith("/meta.json"):
            continue
        record = _record(repo, json.loads(ref.object(info.path).read()))
        if containing:
            from offline import _fs

            schema = _fs.read_schema(record.physical_address, repo.filesystem)
            if any(k not in schema.names for k in containing):
                continue
            filters = [(k, "=", _scalar(k, v, schema.field(k).type)) for k, v in containing.items()]
            hits = _fs.read_table(
                record.physical_address, repo.filesystem, columns=list(containing), filters=filters
            )
            if hits.num_rows == 0:
                continue
        out.append(record)
    return out
