"""Config layers: command line > environment (SALES_FORECAST__*) > YAML > dataclass default,
and the manifest's record of which layer set each key."""

from __future__ import annotations

import pytest

from flows import config as conf
from flows import layers
from tasks.errors import ConfigError

NUM_LEAVES = "SALES_FORECAST__MODEL__HYPERPARAMETERS__NUM_LEAVES"


def composed(overrides: list[str] | None = None) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(overrides or []))


def sources(overrides: list[str] | None = None) -> dict[str, str]:
    return conf.config_sources(conf.compose_config(overrides or []), overrides or [])


def test_each_layer_alone() -> None:
    cfg = composed()
    assert cfg.evaluation.max_regression == conf.EvaluationConfig().max_regression  # dataclass
    assert cfg.data.name == "synthetic"  # YAML (the dataclass has no default)
    assert sources()["data.name"] == "yaml"
    assert "evaluation.max_regression" not in sources()  # a default is not recorded


def test_environment_sets_any_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NUM_LEAVES, "63")
    monkeypatch.setenv("SALES_FORECAST__FEATURES__LAGS", "[1, 7]")
    monkeypatch.setenv("SALES_FORECAST__DATA__FREQUENCY", "1w")
    monkeypatch.setenv("SALES_FORECAST__PREPROCESSING__REPAIR_REVENUE", "false")
    monkeypatch.setenv("SALES_FORECAST__MODEL__HYPERPARAMETERS__MIN_SUM_HESSIAN_IN_LEAF", "0.01")
    monkeypatch.setenv("SALES_FORECAST__DATA__ALLOWED_CATEGORIES__REGION", "[north, south]")
    cfg = composed()
    assert cfg.model.hyperparameters.num_leaves == 63
    assert cfg.features.lags == [1, 7]
    assert cfg.data.frequency == "1w"
    assert cfg.preprocessing.repair_revenue is False
    assert vars(cfg.model.hyperparameters)["min_sum_hessian_in_leaf"] == 0.01
    assert cfg.data.allowed_categories["region"] == ["north", "south"]
    recorded = sources()
    for key in ("model.hyperparameters.num_leaves", "features.lags", "data.frequency"):
        assert recorded[key] == "env"


def test_environment_chooses_a_group_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_FORECAST__DATA", "local")
    monkeypatch.setenv("SALES_FORECAST__DATA__INPUT_PATH", "/srv/sales")
    cfg = composed()
    assert (cfg.data.name, cfg.data.input_path) == ("local", "/srv/sales")
    assert sources()["data"] == "env"


def test_command_line_beats_environment_beats_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NUM_LEAVES, "63")
    monkeypatch.setenv("SALES_FORECAST__DATA__FREQUENCY", "1w")  # YAML says 1d
    overrides = ["model.hyperparameters.num_leaves=15"]
    cfg = composed(overrides)
    assert cfg.model.hyperparameters.num_leaves == 15
    assert cfg.data.frequency == "1w"
    recorded = sources(overrides)
    assert recorded["model.hyperparameters.num_leaves"] == "cli"
    assert recorded["data.frequency"] == "env"


def test_a_yaml_oc_env_value_is_recorded_as_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_OUTPUT_PATH", "/srv/out")  # read by conf/data/*.yaml
    assert composed().data.output_path == "/srv/out"
    assert sources()["data.output_path"] == "env"


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (NUM_LEAVES, "${oc.env:HOME}", "never interpolated"),
        ("SALES_FORECAST__DATA__INPUT_PATH", "/x/${oc.env:AWS_SECRET_ACCESS_KEY}", "${...}"),
        ("SALES_FORECAST__MODEL__HYPERPARAMETERS__NUM_LEAVS", "63", "hyperparameters.num_leaves?"),
        ("SALES_FORECAST__DATA__FREQUENCI", "1w", "SALES_FORECAST__DATA__FREQUENCY?"),
        ("SALES_FORECAST__NO__SUCH", "1", "no key no.such"),
        (NUM_LEAVES, "many", NUM_LEAVES),
    ],
)
def test_bad_variables_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        composed()
    assert variable in str(info.value)
    assert said in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["it's", 'say "hi"', "a,b", "C:\\data\\", "[a, 'b c']", "x=y", "2024-01-01", "", "~"],
)
def test_values_read_back_as_written_data(text: str) -> None:
    out = layers.env_overrides(
        conf.schema_node(), [], [], {"SALES_FORECAST__DATA__INPUT_PATH": text}
    )
    assert list(out) == ["SALES_FORECAST__DATA__INPUT_PATH"]


def test_the_manifest_records_the_layers_of_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NUM_LEAVES, "63")
    recorded = sources(["forecast.horizon=7", "data=local", "data.input_path=/in"])
    assert recorded["forecast.horizon"] == "cli"
    assert recorded["data"] == "cli"
    assert recorded["model.hyperparameters.num_leaves"] == "env"
    assert set(recorded.values()) <= {"cli", "env", "yaml"}
