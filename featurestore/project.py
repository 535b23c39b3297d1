"""Loading the definitions of a project folder from its Python files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView
from featurestore.definitions.on_demand import OnDemandFeatureView
from featurestore.definitions.project import Project
from featurestore.definitions.serialization import to_dict
from featurestore.definitions.sources import PushSource, RequestSource, TableSource
from featurestore.errors import DefinitionError

__all__ = ["DEFINITION_TYPES", "load_definitions"]

DEFINITION_TYPES = (
    Entity,
    TableSource,
    PushSource,
    RequestSource,
    FeatureView,
    OnDemandFeatureView,
    FeatureService,
    Project,
)


def _namespace(obj: object) -> str:
    if isinstance(obj, TableSource | PushSource | RequestSource):
        return "source"
    if isinstance(obj, FeatureView | OnDemandFeatureView):
        return "view"
    return type(obj).__name__


def _import(path: Path, name: str) -> ModuleType:
    module = sys.modules.get(name)
    if module is not None and Path(getattr(module, "__file__", "") or "").resolve() == path:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot import {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except DefinitionError as e:
        raise DefinitionError(f"{path}: {e}") from e
    except Exception as e:
        raise DefinitionError(f"importing {path} failed: {type(e).__name__}: {e}") from e
    return module


def load_definitions(project_dir: str | Path) -> list[object]:
    """Every definition at module level of the ``*.py`` files in ``project_dir``.

    Files are imported in name order (not recursively; ``_*.py`` and ``test_*.py``
    are skipped) with the folder on ``sys.path``, so they may import each other; the
    modules are removed from ``sys.modules`` afterwards so another project's files of
    the same name load fresh. The same object found twice counts once; two different
    definitions of one kind with one name are a DefinitionError.
    """
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise DefinitionError(f"project folder {root} does not exist")
    files = sorted(
        p.resolve()
        for p in root.glob("*.py")
        if not p.name.startswith(("_", "test_")) and p.is_file()
    )
    names = {p.stem for p in files}
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in names}
    sys.path.insert(0, str(root))
    found: list[object] = []
    seen_ids: set[int] = set()
    by_name: dict[tuple[str, str], tuple[object, Path]] = {}
    try:
        for path in files:
            module = _import(path, path.stem)
            for value in list(vars(module).values()):
                if not isinstance(value, DEFINITION_TYPES) or id(value) in seen_ids:
                    continue
                key = (_namespace(value), value.name)
                previous = by_name.get(key)
                if previous is not None:
                    if to_dict(previous[0]) != to_dict(value):
                        raise DefinitionError(
                            f"two different definitions are named {value.name!r} "
                            f"({previous[1].name} and {path.name}); rename one"
                        )
                    continue
                seen_ids.add(id(value))
                by_name[key] = (value, path)
                found.append(value)
    finally:
        sys.path.remove(str(root))
        for n in list(sys.modules):
            if n.split(".")[0] in names:
                del sys.modules[n]
        sys.modules.update(saved)
    return found
