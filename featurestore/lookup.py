"""Online lookups: many features of many entities in one round trip to the online store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.errors import ValidationError
from featurestore.features import FeaturePlan, internal_name

if TYPE_CHECKING:
    import pandas as pd

    import online

__all__ = ["OnlineResponse", "Status"]

Status = Literal["PRESENT", "NOT_FOUND", "NULL_VALUE"]


@dataclass(frozen=True)
class OnlineResponse:
    """Features of the requested entities; per feature its values, event times and commits.

    Missing or expired values are null with status ``NOT_FOUND``; the commit of each value
    names the offline data it was materialized from (null for pushed values).
    """

    entity_columns: Mapping[str, pa.Array]
    features: Mapping[str, pa.Array]
    event_timestamps: Mapping[str, pa.Array]
    commits: Mapping[str, pa.Array]
    found: Mapping[str, pa.Array]
    """Per feature, whether a row was stored for the entity (and not expired)."""

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def statuses(self, name: str) -> list[Status]:
        found = self.found[name].to_pylist()
        valid = self.features[name].is_valid().to_pylist()
        return [
            "NOT_FOUND" if not f else ("PRESENT" if v else "NULL_VALUE")
            for f, v in zip(found, valid, strict=True)
        ]

    def to_dict(self, include_event_timestamps: bool = False) -> dict[str, list[Any]]:
        """Columns as lists: the entity keys, then each feature (Feast's shape)."""
        out = {k: v.to_pylist() for k, v in self.entity_columns.items()}
        for name, values in self.features.items():
            out[name] = values.to_pylist()
            if include_event_timestamps:
                out[f"{name}__ts"] = self.event_timestamps[name].to_pylist()
        return out

    def to_arrow(self, include_metadata: bool = False) -> pa.Table:
        columns: dict[str, pa.Array] = dict(self.entity_columns)
        for name, values in self.features.items():
            columns[name] = values
            if include_metadata:
                columns[f"{name}__event_timestamp"] = self.event_timestamps[name]
                columns[f"{name}__commit"] = self.commits[name]
        return pa.table(columns)

    def to_pandas(self, include_metadata: bool = False) -> pd.DataFrame:
        from featurestore.retrieval import to_pandas

        return to_pandas(self.to_arrow(include_metadata))


def entity_arrays(
    plan: FeaturePlan, columns: Mapping[str, Sequence[Any]]
) -> tuple[dict[str, pa.Array], int]:
    """The join key columns of the entity rows as Arrow arrays, and the row count."""
    missing = [k for k in plan.join_keys if k not in columns]
    if missing:
        raise ValidationError(
            f"entity rows lack join key(s) {missing} needed by views {sorted(plan.views)}; "
            f"got {sorted(columns)}"
        )
    arrays: dict[str, pa.Array] = {}
    for key in plan.join_keys:
        try:
            arrays[key] = pa.array(columns[key])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValidationError(
                f"join key {key!r}: values of mixed or unsupported types: {e}"
            ) from e
        if arrays[key].null_count:
            raise ValidationError(f"join key {key!r} has null values; give every entity a key")
    counts = {len(a) for a in arrays.values()} | {len(v) for v in columns.values()}
    if len(counts) > 1:
        raise ValidationError(f"entity rows: columns have different lengths {sorted(counts)}")
    return arrays, counts.pop() if counts else 0


def read_online(
    plan: FeaturePlan,
    columns: Mapping[str, Sequence[Any]],
    store: online.OnlineStore,
    now: datetime | None = None,
) -> OnlineResponse:
    """Read every view of ``plan`` in one call, then compute its on-demand features.

    ``now`` is the time ttl is measured against (default: the current time).
    """
    import online as online_pkg

    keys, n = entity_arrays(plan, columns)
    names = list(plan.stored)
    requests = []
    for name in names:
        view = plan.views[name]
        declared = {f.name: f.dtype.to_arrow() for f in view.features}
        encoded = online_pkg.encode_entity_keys(
            list(view.join_keys), [keys[k] for k in view.join_keys]
        )
        schema = pa.schema([(f, declared[f]) for f in plan.stored[name]])
        requests.append(
            online_pkg.ReadRequest(
                table=name, keys=encoded, schema=schema, ttl=view.ttl, now=now
            )
        )
    tables = dict(zip(names, store.read(requests), strict=True))
    values: dict[str, pa.Array] = {}
    ts: dict[str, pa.Array] = {}
    commits: dict[str, pa.Array] = {}
    found: dict[str, pa.Array] = {}
    for name, table in tables.items():
        event_ts = table.column(online_pkg.EVENT_TS_COLUMN).combine_chunks()
        commit = table.column(online_pkg.COMMIT_COLUMN).combine_chunks()
        present = event_ts.is_valid()
        for f in plan.stored[name]:
            col = internal_name(name, f)
            values[col] = table.column(f).combine_chunks()
            ts[col], commits[col], found[col] = event_ts, commit, present
    for odfv in plan.on_demand:
        inputs: dict[str, list[Any]] = {
            f: values[internal_name(v, f)].to_pylist() for v, f in odfv.input_refs
        }
        for request_field in odfv.request_fields:
            if request_field.name not in columns:
                raise ValidationError(
                    f"on-demand view {odfv.name!r} needs request data {request_field.name!r}; "
                    "pass it with the entity rows"
                )
            inputs[request_field.name] = list(columns[request_field.name])
        out = odfv.transform_dict(inputs)
        all_found = pa.array([True] * n)
        for out_field in odfv.features:
            col = internal_name(odfv.name, out_field.name)
            values[col] = pa.array(
                out[out_field.name], type=out_field.dtype.to_arrow(), from_pandas=True
            )
            ts[col] = pa.nulls(n, pa.timestamp("us", tz="UTC"))
            commits[col] = pa.nulls(n, pa.string())
            found[col] = all_found
    order = [internal_name(v, f) for v, f in plan.refs]
    rename = dict(zip(order, plan.output_names, strict=True))
    return OnlineResponse(
        entity_columns=keys,
        features={rename[c]: values[c] for c in order},
        event_timestamps={rename[c]: ts[c] for c in order},
        commits={rename[c]: commits[c] for c in order},
        found={rename[c]: found[c] for c in order},
    )
