"""Config values are checked before any work: each bad value names its key, value and a fix."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from flows import config as conf
from flows import plan
from tasks.errors import ConfigError
from tasks.model import hyperparameters


def compose(*overrides: str) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(list(overrides)))


def config_error(*overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        compose(*overrides)
    return err.value


# (override, key named in the error, value as the error shows it)
BAD_VALUES = [
    ("forecast.horizon=0", "forecast.horizon", "0"),
    ("forecast.horizon=-5", "forecast.horizon", "-5"),
    ("features.window_sizes=[]", "features.window_sizes", "[]"),
    ("features.window_sizes=[7,0]", "features.window_sizes", "[7,0]"),
    ("features.lags=[]", "features.lags", "[]"),
    ("features.lags=[-1,7]", "features.lags", "[-1,7]"),
    ("evaluation.backtest_windows=0", "evaluation.backtest_windows", "0"),
    ("evaluation.season_length=0", "evaluation.season_length", "0"),
    ("evaluation.moving_average_window=-2", "evaluation.moving_average_window", "-2"),
    ("evaluation.segment_by=store", "evaluation.segment_by", "store"),
    ("evaluation.max_regression=-0.1", "evaluation.max_regression", "-0.1"),
    ("evaluation.min_improvement=1.5", "evaluation.min_improvement", "1.5"),
    ("model.num_boost_round=0", "model.num_boost_round", "0"),
    ("model.model_name=../../escape", "model.model_name", "../../escape"),
    ("model.model_name=a/b", "model.model_name", "a/b"),
    ("data.name='my data'", "data.name", "'my data'"),
    ("model.hyperparameters.learning_rate=0", "model.hyperparameters.learning_rate", "0.0"),
    ("model.hyperparameters.num_leaves=1", "model.hyperparameters.num_leaves", "1"),
    ("model.hyperparameters.feature_fraction=1.5", "model.hyperparameters.feature_fraction", "1.5"),
    ("model.hyperparameters.bagging_fraction=0", "model.hyperparameters.bagging_fraction", "0.0"),
    ("model.hyperparameters.lambda_l2=-1", "model.hyperparameters.lambda_l2", "-1.0"),
    ("model.hyperparameters.objective=binary", "model.hyperparameters.objective", "binary"),
    ("data.frequency=2d", "data.frequency", "2d"),
    ("data.file_format=xlsx", "data.file_format", "xlsx"),
    ("data.series_keys=[]", "data.series_keys", "[]"),
    ("data.late_tolerance_days=-1", "data.late_tolerance_days", "-1"),
    ("data.generator.days=0", "data.generator.days", "0"),
    ("preprocessing.missing_periods=drop", "preprocessing.missing_periods", "drop"),
    ("preprocessing.min_revenue=-1", "preprocessing.min_revenue", "-1.0"),
    ("features.holiday_country=XX", "features.holiday_country", "XX"),
    ("output.report_top_n=-1", "output.report_top_n", "-1"),
    ("output.task_retries=-1", "output.task_retries", "-1"),
    ("output.result_storage=''", "output.result_storage", "''"),
    ("monitoring.drift.bins=1", "monitoring.drift.bins", "1"),
    ("monitoring.drift.alert=-0.05", "monitoring.drift.alert", "-0.05"),
    ("monitoring.trailing_runs=0", "monitoring.trailing_runs", "0"),
    ("monitoring.quality.null_rate.hard=1.5", "monitoring.quality.null_rate.hard", "1.5"),
    ("monitoring.quality.volume_drop.warn=1.2", "monitoring.quality.volume_drop.warn", "1.2"),
    ("monitoring.quality.new_series.warn=-1", "monitoring.quality.new_series.warn", "-1.0"),
    ("monitoring.accuracy.min_points=0", "monitoring.accuracy.min_points", "0"),
    (
        "monitoring.history_path=${data.output_path}/../elsewhere",
        "monitoring.history_path",
        "outputs/../elsewhere",
    ),
    ("storage.endpoint_url=minio:9000", "storage.endpoint_url", "minio:9000"),
    ("random_seed=-1", "random_seed", "-1"),
]


@pytest.mark.parametrize(("override", "key", "shown"), BAD_VALUES)
def test_bad_value_fails_naming_key_value_and_a_fix(override: str, key: str, shown: str) -> None:
    error = config_error(override)
    assert f"{key}={shown}:" in str(error), str(error)
    assert "e.g. " in str(error) or "did you mean" in str(error) or "remove" in str(error)
    assert error.problems[0].key == key


def test_every_bad_value_is_reported_at_once() -> None:
    error = config_error(
        "forecast.horizon=0", "features.window_sizes=[]", "monitoring.drift.bins=1"
    )
    keys = {p.key for p in error.problems}
    assert keys == {"forecast.horizon", "features.window_sizes", "monitoring.drift.bins"}
    assert str(error).startswith("3 config values are not valid:")


def test_the_fix_in_the_message_is_itself_a_valid_value() -> None:
    error = config_error("forecast.horizon=0", "evaluation.backtest_windows=0")
    fixes = [p.fix.removeprefix("e.g. ") for p in error.problems]
    cfg = compose(*fixes)
    assert plan.horizon(cfg) == 28
    assert cfg.evaluation.backtest_windows == 3


def test_null_horizon_is_the_frequency_default_and_explicit_values_are_kept() -> None:
    assert plan.horizon(compose()) == 28
    assert plan.horizon(compose("data.frequency=1w")) == 13
    assert plan.horizon(compose("forecast.horizon=1")) == 1
    assert plan.backtest_params(compose("evaluation.season_length=1")).season_length == 1


def test_the_default_configs_of_every_data_option_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_INPUT_PATH", "/data/sales/")
    monkeypatch.setenv("SALES_OUTPUT_PATH", "/srv/out")
    for option in ("synthetic", "local", "aus_retail", "s3"):
        compose(f"data={option}")


@pytest.mark.parametrize("syntax", ["+", "++"])
def test_a_hyperparameter_typo_added_with_plus_fails_naming_the_closest_name(syntax: str) -> None:
    error = config_error(f"{syntax}model.hyperparameters.max_dpeth=8")
    assert "model.hyperparameters.max_dpeth=8: not a LightGBM parameter" in str(error)
    assert "did you mean model.hyperparameters.max_depth?" in str(error)


@pytest.mark.parametrize("syntax", ["+", "++"])
def test_an_unknown_hyperparameter_added_with_plus_fails(syntax: str) -> None:
    error = config_error(f"{syntax}model.hyperparameters.foo_param=1")
    assert "model.hyperparameters.foo_param=1: not a LightGBM parameter" in str(error)


def test_a_hyperparameter_typo_in_plain_syntax_fails_at_composition() -> None:
    with pytest.raises(ConfigCompositionException) as err:
        compose("model.hyperparameters.max_dpeth=8")
    assert "max_dpeth" in str(err.value.__cause__ or err.value)


@pytest.mark.parametrize(
    "override",
    ["+model.hyperparameters.min_sum_hessian_in_leaf=0.01", "++model.hyperparameters.max_bin=63"],
)
def test_a_real_lightgbm_parameter_can_be_added_and_reaches_training(override: str) -> None:
    name, value = override.split(".", 2)[2].split("=")
    params = plan.train_params(compose(override)).hyperparameters
    assert params[name] == pytest.approx(float(value))


def test_an_added_parameter_survives_the_champions_resolved_config() -> None:
    node = conf.compose_config(["+model.hyperparameters.min_sum_hessian_in_leaf=0.01"])
    again = conf.from_resolved_yaml(conf.resolved_yaml(node), "champion config.yaml")
    assert plan.train_params(again).hyperparameters["min_sum_hessian_in_leaf"] == 0.01


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("+model.hyperparameters.eta=0.1", "another name of learning_rate"),
        ("+model.hyperparameters.seed=7", "set by the pipeline; remove it: random_seed"),
        ("+model.hyperparameters.num_iterations=50", "set model.num_boost_round instead"),
        ("+model.hyperparameters.output_model=/tmp/x.txt", "command-line/file setting"),
        ("+model.hyperparameters.tweedie_variance_power=3", "LightGBM rejects it"),
        ("model.hyperparameters.objective=tweedy", "e.g. model.hyperparameters.objective=tweedie"),
    ],
)
def test_lightgbm_names_aliases_and_values_are_lightgbms_own(override: str, expected: str) -> None:
    assert expected in str(config_error(override))


def test_lightgbm_value_check_is_silent_on_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    config_error("+model.hyperparameters.tweedie_variance_power=3")
    out, err = capfd.readouterr()
    assert "Fatal" not in out + err


def test_the_lightgbm_name_table_comes_from_lightgbm() -> None:
    names = hyperparameters.aliases()
    assert names["min_child_weight"] == "min_sum_hessian_in_leaf"
    assert names["num_boost_round"] == "num_iterations"
    assert hyperparameters.closest("num_leavs") == "num_leaves"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("+model.foo=1", "model.foo"),
        ("+foo=1", "foo"),
        ("+data.generator.dayz=3", "data.generator.dayz"),
    ],
)
def test_a_key_added_with_plus_outside_the_hyperparameters_fails(override: str, key: str) -> None:
    error = config_error(override)
    assert f"{key}=" in str(error)
    assert "no such key" in str(error)


def test_a_key_typo_added_with_plus_names_the_real_key() -> None:
    assert "did you mean forecast.horizon?" in str(config_error("+forecast.horizonn=3"))


def test_a_bad_name_cannot_write_outside_the_output_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    error = config_error(f"data.output_path={out}", "model.model_name=../../escape")
    assert "model.model_name=../../escape" in str(error)
    assert not out.exists()
    assert not any(tmp_path.iterdir())


def test_a_config_error_survives_pickling() -> None:
    error = config_error("forecast.horizon=0")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error)
    assert isinstance(again, ValueError)
