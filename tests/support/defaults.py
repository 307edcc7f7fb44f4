"""Task parameters of the default config (``conf/``), built by :mod:`flows.plan`.

Tests take these and change only what they test (``defaults.clean(min_revenue=5.0)``), so
a default is written once, in the config, and never again in a test.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from flows import config as conf
from flows import plan
from tasks.chain import ChainParams
from tasks.data.aggregate import PanelParams
from tasks.data.clean import CleanParams
from tasks.model.backtest import BacktestParams
from tasks.model.features import FeatureSpec
from tasks.model.train import TrainParams
from tasks.monitoring.drift import DriftParams
from tasks.monitoring.quality import QualityParams
from tasks.monitoring.realised import AccuracyParams


@functools.cache
def default_config() -> conf.AppConfig:
    """The composed default config (``conf/config.yaml``, no overrides)."""
    return conf.to_app_config(conf.compose_config([]))


def chain() -> ChainParams:
    """Every ingest → forecast parameter of the default config."""
    return plan.chain_params(default_config())


def clean(**changes: Any) -> CleanParams:
    """The default cleaning rules, with ``changes``."""
    return replace(chain().clean, **changes)


def panel(**changes: Any) -> PanelParams:
    """The default panel settings (daily, region x product_type), with ``changes``."""
    return replace(chain().panel, **changes)


def feature_spec(**changes: Any) -> FeatureSpec:
    """The default feature spec (daily), with ``changes``."""
    return replace(chain().features, **changes)


def train(**changes: Any) -> TrainParams:
    """The default training settings, with ``changes``."""
    return replace(chain().train, **changes)


def backtest(**changes: Any) -> BacktestParams:
    """The default backtest settings, with ``changes``."""
    return replace(chain().backtest, **changes)


def drift(**changes: Any) -> DriftParams:
    """The default drift thresholds, with ``changes``."""
    return replace(plan.drift_plan(default_config()).params, **changes)


def quality(**changes: Any) -> QualityParams:
    """The default data-quality thresholds, with ``changes``."""
    return replace(plan.quality_params(default_config()), **changes)


def accuracy(**changes: Any) -> AccuracyParams:
    """The default realised-accuracy settings, with ``changes``."""
    found = plan.monitoring_plan(default_config())
    assert found is not None
    return replace(found.accuracy, **changes)
