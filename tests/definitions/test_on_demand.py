"""On-demand views run the same before and after a trip through the registry's JSON."""

from __future__ import annotations

import pandas as pd
import pytest
from definitions_sample import ALL, conv_plus_val, request, stats
from odfv_module import python_mode, uses_module_level_names
from pandas.testing import assert_frame_equal

from featurestore.definitions import Field, OnDemandFeatureView, on_demand_feature_view
from featurestore.definitions.udf_source import load_function
from featurestore.errors import DefinitionError, ValidationError
from featurestore.registry import Registry
from featurestore.types import Float64

INPUTS = pd.DataFrame(
    {
        "conv_rate": [0.5, 0.25, None],
        "avg_daily_trips": [3, 10, 0],
        "val_to_add": [1, 2, 3],
        "label": [True, False, True],
    },
    index=[10, 11, 12],
)


def _reloaded(view: OnDemandFeatureView) -> OnDemandFeatureView:
    reg = Registry([*ALL, view])
    return Registry.from_json(reg.to_json()).get_on_demand_feature_view(view.name)


@pytest.mark.parametrize(
    "view", [conv_plus_val, uses_module_level_names, python_mode], ids=lambda v: v.name
)
def test_same_output_after_json_round_trip(view: OnDemandFeatureView) -> None:
    before = view.transform(INPUTS)
    loaded = _reloaded(view)
    assert loaded.udf is not view.udf
    assert loaded == view
    after = loaded.transform(INPUTS)
    assert list(after.columns) == list(view.feature_names)
    assert list(after.index) == [10, 11, 12]
    assert_frame_equal(before, after)
    rows = {c: INPUTS[c].tolist() for c in view.input_columns}
    assert_frame_equal(
        pd.DataFrame(loaded.transform_dict(rows)), pd.DataFrame(view.transform_dict(rows))
    )


def test_values() -> None:
    out = conv_plus_val.transform(INPUTS)
    assert out["conv_plus_val"].tolist()[:2] == [1.5, 2.25]
    assert pd.isna(out["conv_plus_val"].iloc[2])
    scaled = uses_module_level_names.transform(INPUTS)["scaled"].tolist()
    assert scaled[:2] == [0.5 * 2.0 + 0.5, 0.25 * 4.0 + 0.5]
    assert python_mode.transform_dict({"conv_rate": [1.0], "val_to_add": [2]}) == {"total": [3.0]}


def test_stored_source_strips_the_decorator_and_carries_module_names() -> None:
    src = uses_module_level_names.udf_source
    assert "@on_demand_feature_view" not in src
    assert "import math\n" in src
    assert "OFFSETS = {'low': 0.5, 'high': [1.5, 2.5]}\n" in src
    assert "def scale_of(values: pd.Series)" in src and "FACTOR = 2.0\n" in src
    assert "from scaling import" not in src
    assert src.rstrip().endswith("return out")
    assert conv_plus_val.udf_source.startswith("def conv_plus_val(inputs: pd.DataFrame)")


def test_view_metadata() -> None:
    assert uses_module_level_names.name == "uses_module_level"
    assert conv_plus_val.description == "conv_rate plus the request value."
    assert conv_plus_val.input_refs == (("driver_hourly_stats", "conv_rate"),)
    assert conv_plus_val.input_columns == ("conv_rate", "val_to_add")
    assert conv_plus_val.request_sources == (request,)
    assert conv_plus_val[["conv_plus_val"]].feature_refs == ("conv_plus_val:conv_plus_val",)


def test_missing_inputs_and_outputs_are_reported() -> None:
    with pytest.raises(ValidationError, match="needs input column\\(s\\) val_to_add"):
        conv_plus_val.transform(INPUTS.drop(columns=["val_to_add"]))

    @on_demand_feature_view(sources=[request], schema=[Field(name="y", dtype=Float64)])
    def forgets_y(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"z": inputs["val_to_add"]})

    with pytest.raises(DefinitionError, match="returned no column\\(s\\) y"):
        forgets_y.transform(INPUTS)


def test_unstorable_functions_are_refused_when_defined() -> None:
    factor = 3

    with pytest.raises(DefinitionError, match="variables of an enclosing function \\(factor\\)"):

        @on_demand_feature_view(sources=[request], schema=[Field(name="y", dtype=Float64)])
        def closure(inputs: pd.DataFrame) -> pd.DataFrame:
            return inputs * factor

    with pytest.raises(DefinitionError, match="decorate a function defined with `def`"):
        on_demand_feature_view(sources=[request], schema=[Field(name="y", dtype=Float64)])(
            lambda df: df
        )


def _plain(inputs: pd.DataFrame) -> pd.DataFrame:
    return inputs


def test_bad_on_demand_definitions() -> None:
    with pytest.raises(DefinitionError, match="has no sources"):
        on_demand_feature_view(sources=[], schema=[Field(name="y", dtype=Float64)])(_plain)
    with pytest.raises(DefinitionError, match="empty schema"):
        on_demand_feature_view(sources=[request], schema=[])(_plain)
    with pytest.raises(DefinitionError, match="mode must be 'pandas' or 'python'"):
        on_demand_feature_view(
            sources=[request], schema=[Field(name="y", dtype=Float64)], mode="sql"
        )(_plain)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="val_to_add come from more than one source"):
        on_demand_feature_view(
            sources=[request, stats, request.__class__(name="r2", schema=request.schema)],
            schema=[Field(name="y", dtype=Float64)],
        )(_plain)


def test_stored_source_is_checked_on_load() -> None:
    with pytest.raises(DefinitionError, match="must end with the function's `def`"):
        load_function("x = 1\n", "v")
    with pytest.raises(DefinitionError, match="failed to load: ModuleNotFoundError"):
        load_function("import no_such_module_xyz\ndef f(df):\n    return df\n", "v")
