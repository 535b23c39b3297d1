"""load_definitions imports a project folder's files and collects its definitions."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from featurestore.definitions import Entity, FeatureService, FeatureView, OnDemandFeatureView
from featurestore.errors import DefinitionError
from featurestore.project import load_definitions
from featurestore.registry import Registry

ENTITIES = """
from featurestore.definitions import Entity, TableSource
driver = Entity(name="driver", join_keys=["driver_id"])
source = TableSource(name="stats", timestamp_field="ts")
"""

VIEWS = """
from datetime import timedelta
import pandas as pd
from featurestore.definitions import FeatureView, Field, FeatureService, RequestSource, on_demand_feature_view
from featurestore.types import Float32, Float64, Int64
from entities import driver, source
from helpers import OFFSET

stats = FeatureView(name="stats_view", entities=[driver], source=source, ttl=timedelta(hours=2),
                    schema=[Field(name="rate", dtype=Float32)])
req = RequestSource(name="req", schema=[Field(name="x", dtype=Int64)])

@on_demand_feature_view(sources=[stats, req], schema=[Field(name="rate_x", dtype=Float64)])
def rate_x(inputs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"rate_x": inputs["rate"] * inputs["x"] + OFFSET})

svc = FeatureService(name="svc", features=[stats, rate_x])
alias = stats
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_collects_definitions_across_files(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj",
        {
            "entities.py": ENTITIES,
            "views.py": VIEWS,
            "helpers.py": "OFFSET = 1.0\n",
            "_private.py": "raise RuntimeError('private files are not imported')\n",
            "test_views.py": "raise RuntimeError('test files are not imported')\n",
            "notes.txt": "not python",
        },
    )
    (root / "sub").mkdir()
    (root / "sub" / "more.py").write_text("raise RuntimeError('not recursive')\n")
    found = load_definitions(root)
    names = sorted(f"{type(o).__name__}:{o.name}" for o in found)
    assert names == [
        "Entity:driver",
        "FeatureService:svc",
        "FeatureView:stats_view",
        "OnDemandFeatureView:rate_x",
        "RequestSource:req",
        "TableSource:stats",
    ]
    view = next(o for o in found if isinstance(o, FeatureView))
    assert view.entities[0] is next(o for o in found if isinstance(o, Entity))
    assert "entities" not in sys.modules and "views" not in sys.modules
    odfv = next(o for o in found if isinstance(o, OnDemandFeatureView))
    reg = Registry.from_json(Registry(found).to_json())
    out = reg.get_on_demand_feature_view("rate_x").transform(
        pd.DataFrame({"rate": [2.0], "x": [3]})
    )
    assert (
        out["rate_x"].tolist()
        == odfv.transform(pd.DataFrame({"rate": [2.0], "x": [3]}))["rate_x"].tolist()
        == [7.0]
    )
    assert isinstance(reg.get_feature_service("svc"), FeatureService)


def test_two_projects_with_same_file_names_load_independently(tmp_path: Path) -> None:
    a = _project(tmp_path / "a", {"entities.py": ENTITIES})
    b = _project(tmp_path / "b", {"entities.py": ENTITIES.replace('["driver_id"]', '["id"]')})
    ea = [o for o in load_definitions(a) if isinstance(o, Entity)]
    eb = [o for o in load_definitions(b) if isinstance(o, Entity)]
    assert ea[0].join_keys == ("driver_id",) and eb[0].join_keys == ("id",)


def test_equal_duplicates_count_once(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"a.py": ENTITIES, "b.py": ENTITIES})
    assert len(load_definitions(root)) == 2


def test_conflicting_duplicates_are_refused(tmp_path: Path) -> None:
    other = ENTITIES.replace('["driver_id"]', '["id"]')
    root = _project(tmp_path / "p", {"a.py": ENTITIES, "b.py": other})
    with pytest.raises(
        DefinitionError, match=r"two different definitions are named 'driver' \(a\.py and b\.py\)"
    ):
        load_definitions(root)


def test_import_errors_name_the_file(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"broken.py": "import no_such_module_xyz\n"})
    with pytest.raises(DefinitionError, match=r"importing .*broken\.py failed: ModuleNotFoundError"):
        load_definitions(root)
    bad = _project(
        tmp_path / "q",
        {"bad.py": "from featurestore.definitions import Entity\nEntity(name='a b')\n"},
    )
    with pytest.raises(DefinitionError, match=r"bad\.py: Entity name 'a b'"):
        load_definitions(bad)
    with pytest.raises(DefinitionError, match="does not exist"):
        load_definitions(tmp_path / "missing")


def test_on_demand_function_using_an_unstorable_object_is_refused(tmp_path: Path) -> None:
    code = """
    import pandas as pd
    from featurestore.definitions import Field, RequestSource, on_demand_feature_view
    from featurestore.types import Float64
    LOOKUP = object()
    req = RequestSource(name="req", schema=[Field(name="x", dtype=Float64)])

    @on_demand_feature_view(sources=[req], schema=[Field(name="y", dtype=Float64)])
    def uses_object(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"y": inputs["x"] * id(LOOKUP)})
    """
    root = _project(tmp_path / "p", {"odfv.py": code})
    with pytest.raises(
        DefinitionError, match="uses 'LOOKUP', a module-level object that cannot be stored"
    ):
        load_definitions(root)
