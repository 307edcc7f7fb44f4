"""Unit tests for flows.plan: the config mapped to the tasks' parameters, retries included."""

from __future__ import annotations

import pytest

from flows import config as conf
from flows import plan
from tasks import monitor, release, stages
from tasks.stages import RetryPolicy, with_retries


def compose(*overrides: str) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(list(overrides)))


def test_per_frequency_defaults_and_explicit_values() -> None:
    daily = plan.chain_params(compose())
    assert daily.features.lags == [1, 7, 14, 28]
    assert daily.features.window_sizes == [7, 28]
    assert daily.backtest.season_length == 7
    assert daily.forecast.horizon == 28
    monthly = compose("data.frequency=1mo", "evaluation.season_length=6", "forecast.horizon=3")
    assert plan.backtest_params(monthly).season_length == 6
    assert plan.backtest_params(monthly).moving_average_window == 6
    assert plan.horizon(monthly) == 3
    assert plan.drift_plan(compose("data.frequency=1w")).window == 13


def test_generator_spec_and_clean_params_follow_config() -> None:
    cfg = compose("data.generator.days=30", "data.generator.defects.duplicate=0")
    spec = cfg.data.generator.to_spec()
    assert spec.days == 30
    assert spec.defects.duplicate == 0
    params = plan.clean_params(cfg)
    assert params.allowed_categories["region"] == list(cfg.data.generator.regions)
    prep = plan.preparation(cfg)
    assert prep is not None
    assert prep.generator == spec
    assert prep.root == cfg.data.input_path


def test_a_url_or_own_files_need_no_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_INPUT_PATH", "/data/sales/")
    assert plan.preparation(compose("data=local")) is None
    assert plan.preparation(compose("data.input_path=s3://bucket/raw/")) is None


def test_extra_columns_are_only_those_the_config_uses() -> None:
    assert plan.source_params(compose()).extra_columns == []
    cfg = compose(
        "data.series_keys=[region,channel]",
        "features.categorical_columns=[channel]",
        "evaluation.segment_by=channel",
        "monitoring.drift.segment_by=[channel]",
    )
    assert plan.source_params(cfg).extra_columns == ["channel"]


def test_the_champions_chain_takes_its_features_and_training_only() -> None:
    mine = plan.chain_params(compose())
    champion = compose("features.lags=[1,2]", "model.num_boost_round=50", "forecast.horizon=7")
    theirs = plan.for_champion(mine, champion)
    assert theirs.features.lags == [1, 2]
    assert theirs.train.num_boost_round == 50
    assert theirs.forecast == mine.forecast  # scored and served on this run's horizon
    assert theirs.source == mine.source


def test_monitoring_off_means_no_monitoring_plan() -> None:
    assert plan.monitoring_plan(compose("monitoring.enabled=false")) is None
    on = plan.monitoring_plan(compose("monitoring.accuracy.margin=0.5"))
    assert on is not None
    assert on.accuracy.margin == 0.5


IO_TASKS = [stages.ingest_task, stages.clean_task, stages.forecast_task, monitor.quality_task]


@pytest.mark.parametrize("task", [*IO_TASKS, release.publish_task], ids=lambda t: t.name)
def test_retries_and_their_delay_come_from_the_config(task: object) -> None:
    policy = plan.retry_policy(
        compose("output.task_retries=5", "output.task_retry_delay_seconds=1")
    )
    assert policy == RetryPolicy(5, 1.0)
    configured = with_retries(task, policy)  # type: ignore[arg-type]
    assert configured.retries == 5
    assert configured.retry_delay_seconds == [1, 2, 4, 8, 16]
    assert configured.name == task.name  # type: ignore[attr-defined]
    never = with_retries(task, plan.retry_policy(compose("output.task_retries=0")))  # type: ignore[arg-type]
    assert never.retries == 0


def test_default_retries_are_three_after_two_four_and_eight_seconds() -> None:
    configured = with_retries(stages.ingest_task, plan.retry_policy(compose()))
    assert (configured.retries, configured.retry_delay_seconds) == (3, [2.0, 4.0, 8.0])


@pytest.mark.parametrize("task", [stages.features_task, stages.train_task, monitor.profile_task])
def test_tasks_without_io_do_not_retry(task: object) -> None:
    configured = with_retries(task, RetryPolicy(5, 1.0))  # type: ignore[arg-type]
    assert configured is task
    assert configured.retries == 0
