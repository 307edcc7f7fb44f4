"""Config composition: groups, overrides, types, environment variables and mapping to stages."""

from __future__ import annotations

import re

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from flows import config as conf
from flows import plan


def compose(*overrides: str) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(list(overrides)))


def test_defaults_compose_to_the_bundled_synthetic_data() -> None:
    cfg = compose()
    assert cfg.data.name == "synthetic"
    assert cfg.data.builtin == "synthetic"
    assert cfg.data.input_path.endswith("synthetic/seed-42")
    assert cfg.data.frequency == "1d"
    assert cfg.output.result_storage == f"{cfg.data.output_path}/cache"
    assert cfg.model.hyperparameters.objective == "tweedie"


@pytest.mark.parametrize(
    ("override", "path", "expected"),
    [
        ("model.hyperparameters.max_depth=8", ("model", "hyperparameters", "max_depth"), 8),
        ("data.frequency=1w", ("data", "frequency"), "1w"),
        ("preprocessing.min_revenue=5", ("preprocessing", "min_revenue"), 5.0),
        ("features.window_sizes=[3,9]", ("features", "window_sizes"), [3, 9]),
        ("features.lags=[1,2]", ("features", "lags"), [1, 2]),
        ("forecast.horizon=7", ("forecast", "horizon"), 7),
        ("evaluation.backtest_windows=5", ("evaluation", "backtest_windows"), 5),
        ("random_seed=7", ("random_seed",), 7),
        ("data.output_path=/tmp/x", ("data", "output_path"), "/tmp/x"),
    ],
)
def test_override_reaches_the_typed_config(
    override: str, path: tuple[str, ...], expected: object
) -> None:
    node: object = compose(override)
    for part in path:
        node = getattr(node, part)
    assert node == expected


def test_two_overrides_from_the_readme_example() -> None:
    cfg = compose("model.hyperparameters.max_depth=8", "data.frequency=1w")
    assert cfg.model.hyperparameters.max_depth == 8
    assert cfg.data.frequency == "1w"
    assert plan.feature_spec(cfg).lags == [1, 2, 4, 52]
    assert plan.backtest_params(cfg).season_length == 52
    assert plan.horizon(cfg) == 13


@pytest.mark.parametrize(
    "override",
    ["model.hyperparameters.max_dpeth=8", "data.frequnecy=1w", "forecast.horizonn=3"],
)
def test_mistyped_key_fails_naming_the_key(override: str) -> None:
    with pytest.raises(ConfigCompositionException) as err:
        compose(override)
    key = override.split("=", maxsplit=1)[0].rsplit(".", maxsplit=1)[-1]
    assert key in str(err.value.__cause__ or err.value)


@pytest.mark.parametrize(
    "override",
    ["forecast.horizon=soon", "model.num_boost_round=1.5", "preprocessing.min_revenue=abc"],
)
def test_wrong_type_fails_at_composition(override: str) -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose(override)


def test_unknown_frequency_fails_before_any_work() -> None:
    with pytest.raises(ValueError, match=r"data\.frequency=2d: must be one of '?1d'?"):
        compose("data.frequency=2d")


def test_unknown_group_option_fails() -> None:
    with pytest.raises(ConfigCompositionException, match="nosuch"):
        compose("data=nosuch")


def test_environment_variable_sets_output_path_and_cli_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SALES_OUTPUT_PATH", "/srv/forecasts")
    assert compose().data.output_path == "/srv/forecasts"
    assert compose().output.result_storage == "/srv/forecasts/cache"
    assert compose("data.output_path=/cli").data.output_path == "/cli"


def test_local_data_needs_an_input_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_INPUT_PATH", "/data/sales/")
    cfg = compose("data=local")
    assert cfg.data.input_path == "/data/sales/"
    assert cfg.data.builtin is None


def _keys(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [
            k for key, v in node.items() for k in [f"{prefix}{key}", *_keys(v, f"{prefix}{key}.")]
        ]
    return []


@pytest.mark.parametrize("data", ["synthetic", "local", "aus_retail"])
def test_no_config_key_can_hold_a_secret(data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_INPUT_PATH", "/data")
    keys = _keys(conf.as_dict(conf.compose_config([f"data={data}"])))
    secret_like = [k for k in keys if re.search(r"secret|password|token|access_key", k, re.I)]
    assert secret_like == []


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("name: synthetic", "name: ${oc.env:SALES_TEST_CANARY}", "data.name"),
        ("- north", "- ${oc.env:SALES_TEST_CANARY}", "data.allowed_categories.region.0"),
        ("objective: tweedie", "objective: ${data.name}", "model.hyperparameters.objective"),
    ],
)
def test_a_stored_config_with_an_interpolation_is_not_resolved(
    canary: str, old: str, new: str, where: str
) -> None:
    """A registered champion's config.yaml is outside input: a planted ``${oc.env:...}`` in
    it must not read this process's environment when the next run compares against it."""
    text = conf.resolved_yaml(conf.compose_config([]))
    assert conf.from_resolved_yaml(text, "champion").data.name == "synthetic"
    planted = text.replace(old, new, 1)
    assert planted != text
    other, problem = conf.load_comparable(compose(), planted, "registry/x/config.yaml", "champion")
    assert other is None
    assert problem is not None
    assert f"registry/x/config.yaml holds an interpolation at {where}" in problem
    assert canary not in problem


def test_a_stored_config_with_retired_keys_still_loads() -> None:
    """A champion registered before ``model.name`` and ``monitoring.alerts.notify_block``
    were removed stays comparable: those keys are dropped, unknown ones still fail."""
    text = conf.resolved_yaml(conf.compose_config([]))
    old = text.replace("model:\n", "model:\n  name: lightgbm\n", 1).replace(
        "  alerts:\n", "  alerts:\n    notify_block: slack-webhook/sales\n", 1
    )
    assert "name: lightgbm" in old
    assert "notify_block" in old
    assert conf.from_resolved_yaml(old, "champion").model.model_name == "sales-forecast-synthetic"
    unknown = text.replace("model:\n", "model:\n  flavour: x\n", 1)
    with pytest.raises(ValueError, match="does not fit this code's config"):
        conf.from_resolved_yaml(unknown, "champion")
