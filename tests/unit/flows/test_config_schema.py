"""Stored configs from older schemas: migrated, unknown keys set aside, never fatal."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from flows import config as conf
from flows import config_schema


def stored_v1() -> dict[str, Any]:
    """Today's default config as a version registered before schemas had versions wrote it:
    no ``mode``, a key this code has since dropped, a hyperparameter typo accepted then."""
    text = conf.resolved_yaml(conf.compose_config(["model.hyperparameters.num_leaves=15"]))
    config = yaml.safe_load(text)
    del config["mode"]
    del config["evaluation"]["tolerance_reference_champions"]
    config["evaluation"]["holdout_days"] = 28
    config["model"]["hyperparameters"]["max_dpeth"] = 8
    config["model"]["hyperparameters"]["min_sum_hessian_in_leaf"] = 0.01  # a real one: kept
    return config


def test_an_old_schema_config_loads_with_its_unknown_keys_set_aside() -> None:
    text = yaml.safe_dump(stored_v1())
    loaded, dropped = conf.load_stored(text, "registry/v1/config.yaml", None)
    assert dropped == ["evaluation.holdout_days", "model.hyperparameters.max_dpeth"]
    assert loaded.mode == "experiment"
    assert loaded.model.hyperparameters.num_leaves == 15
    assert vars(loaded.model.hyperparameters)["min_sum_hessian_in_leaf"] == 0.01
    assert loaded.evaluation.tolerance_reference_champions == 5


def test_an_old_champion_stays_comparable() -> None:
    text = yaml.safe_dump(stored_v1())
    current = conf.to_app_config(conf.compose_config([]))
    other, problem, dropped = conf.load_comparable(current, text, "v1", "champion v1", 1)
    assert other is not None
    assert problem is None
    assert len(dropped) == 2


def test_migrations_run_in_order_from_the_stored_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that renames a key adds a step; older configs pass every step after theirs."""

    def rename(config: dict[str, Any]) -> dict[str, Any]:
        evaluation = dict(config["evaluation"])
        evaluation["max_regression"] = evaluation.pop("allowed_regression")
        return {**config, "evaluation": evaluation}

    monkeypatch.setattr(config_schema, "CONFIG_SCHEMA_VERSION", 3)
    monkeypatch.setitem(config_schema.MIGRATIONS, 2, rename)
    old = stored_v1()
    old["evaluation"]["allowed_regression"] = old["evaluation"].pop("max_regression") + 0.07
    loaded, dropped = conf.load_stored(yaml.safe_dump(old), "v1", None)
    assert loaded.evaluation.max_regression == pytest.approx(0.12)
    assert "evaluation.allowed_regression" not in dropped
    v3 = {"evaluation": {"max_regression": 0.2}}
    assert config_schema.migrate(v3, 3) == v3  # already current: untouched


def test_a_bad_value_in_a_stored_config_is_still_an_error_naming_the_file() -> None:
    old = stored_v1()
    old["forecast"]["horizon"] = 0
    expected = r"config at registry/v1/config\.yaml breaks .*forecast\.horizon=0"
    with pytest.raises(ValueError, match=expected):
        conf.load_stored(yaml.safe_dump(old), "registry/v1/config.yaml", 1)
