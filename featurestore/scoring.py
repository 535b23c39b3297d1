"""Scoring: a feature service's features, as one tensor in its declared order, passed to
a model; the predictions come back with the commit behind each row.

    result = store.score(model, entity_df, "fraud_service")   # batch: offline, at a commit
    result = store.score(model, [{"card_id": 5012, "amount": 420.0}], "fraud_service")  # live

A frame of entity rows with event times (pandas, polars, Arrow) is scored offline: a
point-in-time join at ``ref`` (``get_historical_features``), every row's commit the one
the join read. Entity rows (a dict, a list of dicts, or a dict of columns) are scored
live from the online store (``get_online_features``), each row's commit the one its
values were materialized from. Either way the features go through
``featurestore.tensors.to_torch`` (nulls as NaN) to ``device`` and the model runs once
under ``torch.inference_mode``: the same entity at the same time scores the same.

The model is a ``torch.nn.Module`` (put it on ``device`` first) or any callable taking
the ``rows x features`` tensor and returning a tensor with one row per entity row.

Trust: models named in ``featurestore.yaml`` (``models:``, served by
``POST /score/{service}``) are code chosen by the operator who wrote that file, which
lives in the project folder outside the repository, as the trust list of on-demand code
does (``featurestore.trust``). So a TorchScript ``path`` or an ``entry_point`` there is
loaded and run when the server starts, with no trust-list check; nothing stored in the
repository (no branch, merge or upload) can name a model.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.definitions import FeatureService
from featurestore.errors import ConfigError, ValidationError
from featurestore.features import plan_features

if TYPE_CHECKING:
    import torch

    from featurestore.config import ModelConfig
    from featurestore.lookup import OnlineResponse
    from featurestore.store import FeatureStore

__all__ = ["Features", "ScoreResult", "load_model", "predict", "row_commits", "score"]

Model = Callable[[Any], Any]
"""A ``torch.nn.Module`` or any function of a tensor returning a tensor."""


@dataclass(frozen=True, repr=False)
class Features:
    """What a model is given: the ``rows x features`` tensor, its null mask (None: no
    nulls), the feature names in order, and the commit behind each row."""

    tensor: torch.Tensor
    mask: torch.Tensor | None
    names: tuple[str, ...]
    commits: tuple[str | None, ...]
    uncommitted: bool = False
    request_id: str | None = None

    @property
    def rows(self) -> int:
        return int(self.tensor.shape[0])


@dataclass(frozen=True, repr=False)
class ScoreResult:
    """Predictions, one per entity row, with the commit and the features behind each.

    ``commits[i]`` is the commit row ``i``'s features were read at (offline) or
    materialized from (online); None for a row served only pushed values or none;
    ``a+b`` when its views were materialized from different commits. ``uncommitted``:
    an offline score that read a branch's uncommitted writes too.
    """

    predictions: torch.Tensor
    commits: tuple[str | None, ...]
    feature_names: tuple[str, ...]
    features: torch.Tensor
    """The ``rows x features`` tensor the model was given (nulls as NaN)."""
    mask: torch.Tensor | None = None
    """True where a feature was null (None: no nulls)."""
    uncommitted: bool = False
    request_id: str | None = None
    """The lookup's id in the serving log, when the live lookup was logged."""

    def __len__(self) -> int:
        return len(self.commits)

    def tolist(self) -> list[Any]:
        """The predictions as Python values (on the CPU)."""
        values: list[Any] = self.predictions.detach().cpu().tolist()
        return values

    def to_pandas(self) -> Any:
        """A frame of ``prediction`` (a list per row for multi-output models) and ``commit``."""
        import pandas as pd

        return pd.DataFrame({"prediction": self.tolist(), "commit": list(self.commits)})

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.predictions.shape)
        commits = sorted({c for c in self.commits if c is not None})
        at = ", ".join(c[:12] for c in commits[:3]) + (" ..." if len(commits) > 3 else "")
        return (
            f"ScoreResult: {len(self)} row(s), predictions {shape}, "
            f"features {list(self.feature_names)}, commits {at or 'none'}"
        )


def _service(store: FeatureStore, service: str | FeatureService, ref: str | None) -> FeatureService:
    if isinstance(service, FeatureService):
        return service
    if not isinstance(service, str):
        raise ValidationError(
            f"service must name a feature service (or be one), not {type(service).__name__}"
        )
    return store.get_feature_service(service, ref)


def _is_live(entities: object) -> bool:
    """Entity rows (dicts) are scored live; frames and tables offline."""
    if isinstance(entities, Mapping):
        return True
    return (
        isinstance(entities, Sequence)
        and not isinstance(entities, str | bytes)
        and all(isinstance(row, Mapping) for row in entities)
    )


def _tensor(table: pa.Table, names: Sequence[str], device: str) -> tuple[Any, Any]:
    from featurestore.tensors import to_torch

    try:
        return to_torch(table, list(names), device=device)
    except (TypeError, ValueError) as e:
        if isinstance(e, ValidationError):
            raise
        raise ValidationError(
            f"the features {list(names)} do not make a tensor: {e}; score a feature service "
            "of numeric, boolean or timestamp features"
        ) from e


def row_commits(response: OnlineResponse, names: Sequence[str]) -> tuple[str | None, ...]:
    """Per entity row, the commit its values were materialized from (see ``ScoreResult``)."""
    lists = [response.commits[n].to_pylist() for n in names]
    out: list[str | None] = []
    for row in zip(*lists, strict=True):
        seen = list(dict.fromkeys(c for c in row if c is not None))
        out.append("+".join(seen) if seen else None)
    return tuple(out)


def online_features(
    store: FeatureStore,
    service: str | FeatureService,
    entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    device: str = "cpu",
    ref: str | None = None,
    now: datetime | None = None,
) -> Features:
    """A live lookup of ``service`` for ``entity_rows``, as a tensor on ``device``."""
    if isinstance(entity_rows, Mapping) and not any(
        isinstance(v, list | tuple) for v in entity_rows.values()
    ):
        entity_rows = [entity_rows]  # one row as a dict of scalars
    fs = _service(store, service, ref)
    response = store.get_online_features(fs, entity_rows, now=now, ref=ref)
    names = tuple(response.features)
    tensor, mask = _tensor(response.to_arrow(), names, device)
    return Features(tensor, mask, names, row_commits(response, names), False, response.request_id)


def offline_features(
    store: FeatureStore,
    service: str | FeatureService,
    entity_df: Any,
    *,
    device: str = "cpu",
    ref: str | None = None,
) -> Features:
    """A point-in-time join of ``service`` for ``entity_df`` at ``ref``, as a tensor."""
    fs = _service(store, service, ref)
    job = store.get_historical_features(entity_df, fs, ref=ref)
    names = plan_features(fs, store.registry(job.commit_id), full_feature_names=False).output_names
    table = job.to_arrow()
    tensor, mask = _tensor(table, names, device)
    commits = (job.commit_id,) * table.num_rows
    return Features(tensor, mask, tuple(names), commits, job.uncommitted)


def predict(model: Model, features: Any, rows: int | None = None) -> torch.Tensor:
    """``model(features)`` under ``torch.inference_mode``; its output checked to hold one
    row per input row."""
    import torch

    expected = int(features.shape[0]) if rows is None else rows
    with torch.inference_mode():
        out = model(features)
    if not isinstance(out, torch.Tensor):
        raise ValidationError(
            f"the model returned {type(out).__name__}, not a tensor; return a tensor with "
            "one row per entity row"
        )
    if out.dim() == 0 or int(out.shape[0]) != expected:
        shape = tuple(out.shape)
        raise ValidationError(
            f"the model returned a tensor of shape {shape} for {expected} entity row(s); "
            "return one row (or one value) per entity row"
        )
    return out


def score(
    store: FeatureStore,
    model: Model,
    entities: Any,
    service: str | FeatureService,
    *,
    device: str = "cpu",
    ref: str | None = None,
    now: datetime | None = None,
) -> ScoreResult:
    """``FeatureStore.score``: features of ``service`` for ``entities`` through ``model``."""
    if not callable(model):
        raise ValidationError(
            f"model must be a torch.nn.Module or a function of tensors, not {type(model).__name__}"
        )
    if _is_live(entities):
        features = online_features(store, service, entities, device=device, ref=ref, now=now)
    else:
        if now is not None:
            raise ValidationError(
                "now= is for live scoring (entity rows as dicts); a frame of entity rows is "
                "scored as of each row's event time"
            )
        features = offline_features(store, service, entities, device=device, ref=ref)
    predictions = predict(model, features.tensor)
    return ScoreResult(
        predictions,
        features.commits,
        features.names,
        features.tensor,
        features.mask,
        features.uncommitted,
        features.request_id,
    )


def _entry_point(spec: str, project_dir: Path) -> Any:
    """The object ``pkg.mod:name`` names: ``mod.py`` in the project folder, else imported."""
    module_name, _, attr = spec.partition(":")
    local = project_dir / (module_name.replace(".", "/") + ".py")
    if local.is_file():
        unique = f"_featurestore_model_{abs(hash(str(local)))}"
        spec_obj = importlib.util.spec_from_file_location(unique, local)
        if spec_obj is None or spec_obj.loader is None:
            raise ConfigError(f"cannot import the model's module {local}")
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[unique] = module
        spec_obj.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ConfigError(
                f"the model entry point {spec!r}: cannot import {module_name!r} ({e}); install "
                "it or put it in the project folder"
            ) from e
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"the model entry point {spec!r}: {module_name!r} has no {attr!r}; check the name"
        ) from None


def load_model(name: str, config: ModelConfig, project_dir: Path) -> Model:
    """Load the model ``config`` names (trusted: it was named by the operator's config)."""
    try:
        import torch
    except ImportError as e:
        raise ConfigError(
            f"model {name!r} needs PyTorch: pip install 'featurestore[gpu]' (or torch)"
        ) from e
    if config.path is not None:
        path = Path(config.path)
        path = path if path.is_absolute() else project_dir / path
        if not path.is_file():
            raise ConfigError(
                f"model {name!r}: no model file at {path}; save one with "
                "torch.export.save(torch.export.export(model, (x,)), 'model.pt2') or as "
                "TorchScript, torch.jit.save(torch.jit.script(model), 'model.pt')"
            )
        try:
            if path.suffix == ".pt2":  # torch.export.save's program
                loaded: Any = torch.export.load(str(path)).module()
                return loaded if config.device == "cpu" else loaded.to(config.device)  # type: ignore[no-any-return]
            loaded = torch.jit.load(str(path), map_location=config.device)  # type: ignore[no-untyped-call]
        except (RuntimeError, ValueError, OSError) as e:
            raise ConfigError(
                f"model {name!r}: {path} is not a TorchScript file or an exported program ({e})"
            ) from e
        return loaded.eval()  # type: ignore[no-any-return]
    assert config.entry_point is not None
    found = _entry_point(config.entry_point, project_dir)
    if isinstance(found, torch.nn.Module):
        return found.to(config.device).eval()
    if not callable(found):
        raise ConfigError(
            f"model {name!r}: {config.entry_point!r} is a {type(found).__name__}, not a "
            "torch.nn.Module or a function of tensors"
        )
    return found  # type: ignore[no-any-return]
