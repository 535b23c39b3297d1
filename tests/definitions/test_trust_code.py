"""Stored on-demand code is data until it is trusted (issue 8, item 3).

The attack: a writer of branch ``feature-x`` stores a registry whose on-demand code
writes a marker file. Loading that registry, planning, ingesting and retrieving an
unrelated view at that ref, and (after a merge) the online path, must not create the
marker; computing the untrusted view is refused with ``UntrustedCodeError``; after
``trust_code`` it runs. The project's own views keep working, across processes too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from featurestore import (
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    TableSource,
    UntrustedCodeError,
    on_demand_feature_view,
)
from featurestore.definitions.serialization import to_dict
from featurestore.errors import DefinitionError, RefusedError
from featurestore.registry import REGISTRY_PATH, Registry

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
source = TableSource(name="driver_stats", timestamp_field="event_timestamp")
stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    schema=[Field(name="rate", dtype=Float64), Field(name="trips", dtype=Int64)],
    source=source,
    ttl=timedelta(days=1),
)


@on_demand_feature_view(sources=[stats[["rate"]]], schema=[Field(name="rate_x2", dtype=Float64)])
def doubled(inputs: pd.DataFrame) -> pd.DataFrame:
    """Twice the rate: the project's own, trusted code."""
    return pd.DataFrame({"rate_x2": inputs["rate"] * 2}, index=inputs.index)


DEFS = [driver, source, stats, doubled]
NOW = datetime.now(UTC).replace(microsecond=0)  # online values expire by the clock
ROWS = pa.table(
    {
        "driver_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": pa.array([NOW - timedelta(hours=1)] * 2, pa.timestamp("us", "UTC")),
        "rate": [0.5, 0.25],
        "trips": pa.array([3, 4], pa.int64()),
    }
)
ENTITIES = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [NOW, NOW]})


def _evil_view(udf_source: str, name: str = "evil") -> dict[str, Any]:
    """The registry dict of an on-demand view over ``driver_stats`` with ``udf_source``."""

    @on_demand_feature_view(sources=[stats[["rate"]]], schema=[Field(name="out", dtype=Float64)])
    def template(inputs: pd.DataFrame) -> pd.DataFrame:
        return inputs

    data = to_dict(template)
    data["name"] = name
    data["udf_source"] = udf_source
    return data


def _registry_with(*views: dict[str, Any]) -> bytes:
    """The canonical registry of DEFS plus raw on-demand view dicts, as a writer could store it."""
    data = Registry(DEFS).to_dict()
    data["on_demand_feature_views"] = sorted(
        [*data["on_demand_feature_views"], *views], key=lambda d: d["name"]
    )
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _well_formed(marker: Path) -> str:
    """Well-formed code whose body writes ``marker``: it may run only once trusted."""
    return (
        "def evil(inputs):\n"
        f"    open({str(marker)!r}, 'w').write('ran')\n"
        "    return pd.DataFrame({'out': inputs['rate'] * 10}, index=inputs.index)\n"
    )


def _ill_formed(marker: Path) -> dict[str, str]:
    """Sources that would write ``marker`` as soon as they are exec'd (what loading did)."""
    write = f"open({str(marker)!r}, 'w').write('ran')"
    body = "    return pd.DataFrame({'out': inputs['rate']}, index=inputs.index)\n"
    return {
        "statement": f"{write}\ndef evil(inputs):\n{body}",
        "default": f"def evil(inputs, _={write}):\n{body}",
        "decorator": f"@(lambda f: ({write}, f)[1])\ndef evil(inputs):\n{body}",
        "assignment": f"X = {write}\ndef evil(inputs):\n{body}",
        "embedded": f"h = __featurestore_module__('h', {write!r})\ndef evil(inputs):\n{body}",
        "import_then_call": f"import os\nos.getcwd() and {write}\ndef evil(inputs):\n{body}",
        "annotation": f"def evil(inputs: {write}):\n{body}",
    }


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project with DEFS applied and committed on main, and branch feature-x."""
    root = tmp_path / "repo"
    store = FeatureStore.init(root, project=f"t{uuid.uuid4().hex[:10]}")
    try:
        store.apply(DEFS)
        store.ingest("driver_stats", ROWS)
        store.commit("definitions and rows")
        store.repository.branch("feature-x").create("main")
    finally:
        store.close()
    yield root


def _write_branch(root: Path, raw: bytes, branch: str = "feature-x") -> None:
    """What a writer of ``branch`` can do: store any registry.json there and commit."""
    with FeatureStore(root) as store:
        store.repository.branch(branch).object(REGISTRY_PATH).upload(raw)
        store.commit("a feature", branch=branch)


@pytest.mark.parametrize("kind", sorted(_ill_formed(Path("m"))))
def test_loading_a_registry_runs_no_stored_code(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "marker"
    raw = _registry_with(_evil_view(_ill_formed(marker)[kind]))
    registry = Registry.from_json(raw)
    view = registry.get_on_demand_feature_view("evil")
    assert view.feature_names == ("out",) and not view.is_trusted
    assert not marker.exists()
    with pytest.raises(UntrustedCodeError):
        view.transform(pd.DataFrame({"rate": [1.0]}))
    # trusted or not, a source of that shape is refused before anything of it runs
    trusting = Registry.from_json(raw, trust=lambda _src: True)
    with pytest.raises(DefinitionError, match=r"line [12] is refused"):
        trusting.get_on_demand_feature_view("evil").transform(pd.DataFrame({"rate": [1.0]}))
    assert not marker.exists()


def test_a_branch_writers_code_runs_nowhere_until_trusted(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_branch(project, _registry_with(_evil_view(_well_formed(marker))))
    with FeatureStore(project) as store:
        assert "evil" in store.registry("feature-x").on_demand_feature_views_by_name
        store.plan(DEFS, branch="feature-x")
        store.ingest("driver_stats", ROWS, branch="feature-x")
        job = store.get_historical_features(
            ENTITIES, ["driver_stats:rate", "doubled:rate_x2"], ref="feature-x"
        )
        assert job.to_arrow().column("rate_x2").to_pylist() == [1.0, 0.5]
        assert not marker.exists()
        with pytest.raises(UntrustedCodeError) as refused:
            store.get_historical_features(ENTITIES, ["evil:out"], ref="feature-x").to_arrow()
        message = str(refused.value)
        sha = store.registry("feature-x").get_on_demand_feature_view("evil").udf_sha256
        assert "'evil'" in message and sha in message
        assert "featurestore trust evil --ref" in message and "store.trust_code(" in message
        assert isinstance(refused.value, RefusedError) and not marker.exists()

        assert store.trust_code("evil", ref="feature-x") == sha
        out = store.get_historical_features(ENTITIES, ["evil:out"], ref="feature-x").to_arrow()
        assert out.column("out").to_pylist() == [5.0, 2.5] and marker.exists()


def test_after_a_merge_the_online_path_runs_no_untrusted_code(
    project: Path, tmp_path: Path, redis_url: str
) -> None:
    import yaml

    config = project / "featurestore.yaml"
    settings = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**settings, "online_store": {"url": redis_url}}))
    marker = tmp_path / "marker"
    _write_branch(project, _registry_with(_evil_view(_well_formed(marker))))
    with FeatureStore(project) as store:
        store.repository.branch("feature-x").merge_into("main")
        store.materialize(None, NOW)
        rows = {"driver_id": [1, 2]}
        online = store.get_online_features(["driver_stats:rate", "doubled:rate_x2"], rows, now=NOW)
        assert online.to_dict()["rate_x2"] == [1.0, 0.5]
        with pytest.raises(UntrustedCodeError, match="'evil'"):
            store.get_online_features(["evil:out"], rows, now=NOW)
        assert not marker.exists()

        import httpx

        from featurestore.server import create_app
        from tests.server.conftest import _Thread

        with _Thread(create_app(store)) as url:
            body = {"features": ["evil:out"], "entities": {"driver_id": [1]}}
            served = httpx.post(f"{url}/get-online-features", json=body, timeout=30)
            unrelated = {"features": ["driver_stats:rate"], "entities": {"driver_id": [1]}}
            fine = httpx.post(f"{url}/get-online-features", json=unrelated, timeout=30)
        assert served.status_code == 403, served.text
        assert served.json()["error"]["code"] == "refused" and "featurestore trust" in served.text
        assert fine.status_code == 200 and not marker.exists()


def test_own_definitions_run_in_a_later_process_and_branch_code_does_not(
    project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    _write_branch(project, _registry_with(_evil_view(_well_formed(marker))))
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from featurestore import FeatureStore, UntrustedCodeError
        from datetime import datetime
        now = datetime.fromisoformat({NOW.isoformat()!r})
        rows = pd.DataFrame({{"driver_id": [1, 2], "event_timestamp": [now, now]}})
        with FeatureStore({str(project)!r}) as store:
            t = store.get_historical_features(rows, ["doubled:rate_x2"], ref="feature-x")
            print("own", t.to_arrow().column("rate_x2").to_pylist())
            try:
                store.get_historical_features(rows, ["evil:out"], ref="feature-x").to_arrow()
            except UntrustedCodeError:
                print("refused")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["own [1.0, 0.5]", "refused"]
    assert not marker.exists()
    trust_file = project / ".featurestore" / "trusted-code.json"
    entries = json.loads(trust_file.read_text())["trusted"]
    assert [e["view"] for e in entries.values()] == ["doubled"]
    assert (trust_file.parent / ".gitignore").read_text() == "*\n"


REFUSED_AT_APPLY = {
    "call": ("print('x')\n", 1, "expression statement"),
    "if": ("if True:\n    X = 1\n", 1, "'If'"),
    "for": ("for i in []:\n    pass\n", 1, "'For'"),
    "with": ("with open('x') as f:\n    pass\n", 1, "'With'"),
    "try": ("try:\n    import x\nexcept ImportError:\n    pass\n", 1, "'Try'"),
    "class": ("class K:\n    pass\n", 1, "'ClassDef'"),
    "global": ("global G\n", 1, "'Global'"),
    "del": ("X = 1\ndel X\n", 2, "'Delete'"),
    "aug_assign": ("X = 1\nX += 1\n", 2, "'AugAssign'"),
    "call_assign": ("import os\nX = os.getcwd()\n", 2, "not a literal constant"),
    "attr_assign": ("import os\nos.sep = '/'\n", 2, "plain name"),
    "subscript_assign": ("X = {}\nX['a'] = 1\n", 2, "plain name"),
    "unpack_assign": ("A, B = 1, 2\n", 1, "plain name"),
    "walrus": ("(X := 1)\n", 1, "expression statement"),
    "async_def": ("async def g():\n    pass\n", 1, "'AsyncFunctionDef'"),
    "decorator": ("import functools\n@functools.cache\ndef g():\n    pass\n", 2, "decorated"),
    "default": ("import os\ndef g(x=os.getcwd()):\n    pass\n", 2, "default value"),
    "kw_default": ("import os\ndef g(*, x=os.getcwd()):\n    pass\n", 2, "default value"),
    "annotation": ("def g(x: print('a')):\n    pass\n", 1, "annotation"),
    "return_annotation": ("def g() -> print('a'):\n    pass\n", 1, "annotation"),
    "embedded": (
        "h = __featurestore_module__('h', 'import os\\nos.remove(\\'x\\')\\n')\n",
        2,
        "helper module embedded at line 1",
    ),
    "embedded_call": ("h = __featurestore_module__('h', 'K = 1')\nh.run()\n", 2, "expression"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_AT_APPLY))
def test_apply_refuses_module_level_statements(case: str, tmp_path: Path) -> None:
    prefix, line, why = REFUSED_AT_APPLY[case]
    bad = Registry.from_json(_registry_with(_evil_view(prefix + "def evil(inputs):\n    pass\n")))
    view = bad.get_on_demand_feature_view("evil")
    with pytest.raises(DefinitionError, match=f"line {line} is refused") as refused:
        Registry([*DEFS, view])
    assert why in str(refused.value) and "'evil'" in str(refused.value)
    store = FeatureStore.init(tmp_path / "repo", project=f"t{uuid.uuid4().hex[:10]}")
    try:
        with pytest.raises(DefinitionError, match=f"line {line} is refused"):
            store.apply([*DEFS, view])
        assert store.registry().is_empty
    finally:
        store.close()


def test_apply_accepts_imports_defs_literals_and_helper_modules() -> None:
    good = (
        '"""A docstring."""\n'
        "from __future__ import annotations\n"
        "import math\n"
        "from math import log1p as lg\n"
        "LIMITS = {'low': [1, 2.5], 'high': (-3, None)}\n"
        "SCALE: float = 2.0\n"
        'h = __featurestore_module__(\'h\', \'"""doc"""\\nimport math\\nK = 1\\n'
        "def f(x=1, *a, k=-2, **kw) -> float:\\n    return x\\n')\n"
        "def helper(x: pd.Series, *, k: int = 3) -> pd.Series:\n"
        "    return x * SCALE\n"
        "alias = helper\n"
        "def evil(inputs):\n"
        "    return pd.DataFrame({'out': alias(inputs['rate']) + h.K}, index=inputs.index)\n"
    )
    view = Registry.from_json(_registry_with(_evil_view(good))).get_on_demand_feature_view("evil")
    registry = Registry([*DEFS, view])
    trusted = Registry.from_json(registry.to_json(), trust=lambda _src: True)
    out = trusted.get_on_demand_feature_view("evil").transform(pd.DataFrame({"rate": [1.0]}))
    assert out["out"].tolist() == [3.0]


def test_plan_and_diff_show_changed_code_as_a_source_diff(project: Path) -> None:
    @on_demand_feature_view(
        sources=[stats[["rate"]]], schema=[Field(name="rate_x2", dtype=Float64)], name="doubled"
    )
    def doubled_v2(inputs: pd.DataFrame) -> pd.DataFrame:
        """Twice the rate: the project's own, trusted code."""
        return pd.DataFrame({"rate_x2": inputs["rate"] * 2 + 1}, index=inputs.index)

    with FeatureStore(project) as store:
        plan = store.plan([driver, source, stats, doubled_v2], branch="feature-x")
        (entry,) = plan.changed
        assert entry.name == "doubled" and "udf_source" in entry.changes
        assert '-    return pd.DataFrame({"rate_x2": inputs["rate"] * 2}' in entry.source_diff
        assert '+    return pd.DataFrame({"rate_x2": inputs["rate"] * 2 + 1}' in entry.source_diff
        assert entry.source_diff.startswith("--- a/doubled\n+++ b/doubled\n")
        assert entry.source_diff.rstrip() in str(plan)
        store.apply([driver, source, stats, doubled_v2], branch="feature-x")
        store.commit("v2", branch="feature-x")

        from featurestore.registry import diff_definitions

        definitions = diff_definitions(store.repository, "main", "feature-x")
        assert [e.source_diff for e in definitions.entries] == [entry.source_diff]

    import httpx

    from featurestore.server import create_app
    from tests.server.conftest import _Thread

    store = FeatureStore(project)
    try:
        with _Thread(create_app(store)) as url:
            body = httpx.get(f"{url}/diff", params={"left": "main", "right": "feature-x"}).json()
    finally:
        store.close()
    assert [c["path"] for c in body["changes"]] == [REGISTRY_PATH]
    (served,) = body["definitions"]["entries"]
    assert served["name"] == "doubled" and served["source_diff"] == entry.source_diff


def test_cli_plan_diff_and_trust(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_branch(project, _registry_with(_evil_view(_well_formed(marker))))
    (project / "defs.py").write_text(
        textwrap.dedent(
            """
            import pandas as pd
            from tests.definitions.test_trust_code import driver, source, stats
            from featurestore import Field, Float64, on_demand_feature_view

            @on_demand_feature_view(sources=[stats[["rate"]]], schema=[Field(name="rate_x2", dtype=Float64)])
            def doubled(inputs: pd.DataFrame) -> pd.DataFrame:
                return pd.DataFrame({"rate_x2": inputs["rate"] * 3}, index=inputs.index)
            """
        )
    )
    root = Path(__file__).resolve().parents[2]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from featurestore.cli import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=project,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONPATH": str(root)},
        )

    planned = cli("plan", "-b", "main")
    assert planned.returncode == 0, planned.stderr
    assert '+    return pd.DataFrame({"rate_x2": inputs["rate"] * 3}' in planned.stdout
    diffed = cli("diff", "main", "feature-x")
    assert diffed.returncode == 0, diffed.stderr
    assert "+++ b/evil" in diffed.stdout and "open(" in diffed.stdout
    shown = cli("trust", "evil", "--ref", "feature-x")
    assert shown.returncode == 0 and "not trusted" in shown.stdout and "--yes" in shown.stdout
    assert "open(" in shown.stdout and not marker.exists()
    trusted = cli("trust", "evil", "--ref", "feature-x", "--yes")
    assert trusted.returncode == 0, trusted.stderr
    with FeatureStore(project) as store:
        assert store.registry("feature-x").get_on_demand_feature_view("evil").is_trusted
    assert not marker.exists()


def test_deeply_nested_registry_is_a_definition_error() -> None:
    for raw in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        with pytest.raises(DefinitionError, match="nested too deeply"):
            Registry.from_json(raw)
    nested = _evil_view("X = " + "[" * 100_000 + "]" * 100_000 + "\ndef evil(inputs):\n    pass\n")
    view = Registry.from_json(_registry_with(nested)).get_on_demand_feature_view("evil")
    with pytest.raises(DefinitionError, match="cannot be parsed"):
        Registry([*DEFS, view])


def test_an_on_demand_view_over_another_applied_together(project: Path) -> None:
    @on_demand_feature_view(sources=[doubled], schema=[Field(name="rate_x4", dtype=Float64)])
    def quadrupled(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rate_x4": inputs["rate_x2"] * 2}, index=inputs.index)

    @on_demand_feature_view(
        sources=[quadrupled[["rate_x4"]], doubled[["rate_x2"]]],
        schema=[Field(name="total", dtype=Float64)],
        mode="python",
    )
    def summed(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"total": [a + b for a, b in zip(inputs["rate_x4"], inputs["rate_x2"], strict=True)]}

    registry = Registry([*DEFS, summed, quadrupled])
    assert registry.get_on_demand_feature_view("summed").input_refs == (
        ("quadrupled", "rate_x4"),
        ("doubled", "rate_x2"),
    )
    assert Registry.from_json(registry.to_json()) == registry
    with FeatureStore(project) as store:
        store.apply([*DEFS, quadrupled, summed], partial=False)
        store.commit("chained")
        out = store.get_historical_features(ENTITIES, ["summed:total", "driver_stats:rate"])
        assert out.to_arrow().column("total").to_pylist() == [3.0, 1.5]


def test_on_demand_views_reading_each_other_in_a_cycle_are_refused() -> None:
    a = _evil_view("def evil(inputs):\n    return inputs\n", name="a")
    b = _evil_view("def evil(inputs):\n    return inputs\n", name="b")
    a["sources"] = [{"kind": "view", "name": "b", "features": ["out"]}]
    b["sources"] = [{"kind": "view", "name": "a", "features": ["out"]}]
    with pytest.raises(DefinitionError, match="a, b read each other in a cycle"):
        Registry.from_json(_registry_with(a, b))
    a["sources"] = [{"kind": "view", "name": "a", "features": ["out"]}]
    with pytest.raises(DefinitionError, match="a read each other in a cycle"):
        Registry.from_json(_registry_with(a))
