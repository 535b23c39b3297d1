"""Which stored features and on-demand views a request needs, and their output names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from featurestore.definitions import (
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    parse_feature_refs,
)
from featurestore.errors import ValidationError
from featurestore.registry import Registry

__all__ = ["FeaturePlan", "plan_features"]


def internal_name(view: str, feature: str) -> str:
    """The column a stored feature is fetched under before renaming: ``view__feature``."""
    return f"{view}__{feature}"


@dataclass(frozen=True)
class FeaturePlan:
    """The features of one request: what to fetch per view, what to compute, what to return."""

    refs: tuple[tuple[str, str], ...]
    """Requested ``(view, feature)`` pairs in request order."""
    stored: dict[str, tuple[str, ...]]
    """Per stored feature view, the features to fetch (requested or read by on-demand views)."""
    views: dict[str, FeatureView]
    on_demand: tuple[OnDemandFeatureView, ...]
    """The on-demand views to compute, each after the on-demand views it reads."""
    output_names: tuple[str, ...]
    """The column name of each requested ref in the result."""

    @property
    def join_keys(self) -> tuple[str, ...]:
        """Every join key the request needs, in first-seen order."""
        seen: dict[str, None] = {}
        for view in self.views.values():
            seen.update(dict.fromkeys(view.join_keys))
        return tuple(seen)

    @property
    def request_fields(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for odfv in self.on_demand:
            seen.update(dict.fromkeys(f.name for f in odfv.request_fields))
        return tuple(seen)


def plan_features(
    features: Sequence[str] | FeatureService, registry: Registry, *, full_feature_names: bool
) -> FeaturePlan:
    """Resolve refs against ``registry``; ValidationError if output names would collide."""
    refs = tuple(parse_feature_refs(features, registry))
    if not refs:
        raise ValidationError("no features requested; pass at least one 'view:feature' ref")
    stored: dict[str, dict[str, None]] = {}
    on_demand: dict[str, OnDemandFeatureView] = {}
    odfvs = registry.on_demand_feature_views_by_name

    def need(odfv: OnDemandFeatureView) -> None:
        """Add ``odfv`` after the on-demand views it reads, and the stored features it needs.

        The registry refuses cycles, so this ends; it walks with an explicit stack."""
        stack: list[tuple[OnDemandFeatureView, bool]] = [(odfv, False)]
        while stack:
            view, inputs_done = stack.pop()
            if view.name in on_demand:
                continue
            if inputs_done:
                on_demand[view.name] = view
                continue
            stack.append((view, True))
            for src_view, src_feature in view.input_refs:
                if src_view in odfvs:
                    stack.append((odfvs[src_view], False))
                else:
                    stored.setdefault(src_view, {})[src_feature] = None

    for view_name, feature in refs:
        if view_name in odfvs:
            need(odfvs[view_name])
        else:
            stored.setdefault(view_name, {})[feature] = None
    fvs = registry.feature_views_by_name
    views = {name: fvs[name] for name in stored}
    served: list[FeatureView | OnDemandFeatureView] = [*views.values(), *on_demand.values()]
    disabled = sorted(view.name for view in served if not view.enabled)
    if disabled:
        raise ValidationError(
            f"feature view(s) {disabled} are disabled (enabled=False) and serve no features; "
            "apply them with enabled=True, or request other features"
        )
    names = tuple(internal_name(v, f) if full_feature_names else f for v, f in refs)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(
            f"features {dupes} are requested from several views; pass full_feature_names=True "
            "to name them view__feature"
        )
    return FeaturePlan(
        refs=refs,
        stored={v: tuple(fs) for v, fs in stored.items()},
        views=views,
        on_demand=tuple(on_demand.values()),
        output_names=names,
    )
