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


def test_the_run_plan_is_built_once_with_one_feature_spec_and_storage_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt

    from tasks.storage import StorageSettings

    calls: dict[str, int] = {"feature_spec": 0, "from_config": 0}
    real_spec, real_settings = plan.feature_spec, StorageSettings.from_config

    def counted_spec(cfg: conf.AppConfig) -> object:
        calls["feature_spec"] += 1
        return real_spec(cfg)

    def counted_settings(cfg: object) -> StorageSettings:
        calls["from_config"] += 1
        return real_settings(cfg)  # type: ignore[arg-type]

    monkeypatch.setattr(plan, "feature_spec", counted_spec)
    monkeypatch.setattr(StorageSettings, "from_config", staticmethod(counted_settings))
    node = conf.compose_config(["monitoring.drift.exclude_columns=[]"])
    cfg = conf.to_app_config(node)
    started = dt.datetime(2026, 12, 5, 6, tzinfo=dt.UTC)
    run_plan = plan.build_plan(node, cfg, "0123abcd-0000", started, None)
    assert calls == {"feature_spec": 1, "from_config": 1}
    assert run_plan.run.run_id == "20261205T060000Z-0123abcd"
    assert run_plan.monitoring is not None
    assert run_plan.monitoring.drift.columns == run_plan.chain.features.feature_names
    assert run_plan.state_folders()[-1] == cfg.monitoring.history_path
    assert "data:" in run_plan.config_yaml
    assert plan.build_plan(node, cfg, None, started, None).run.run_id.endswith("-local")


def test_the_flow_and_its_release_phase_read_settings_only_from_the_plan() -> None:
    """Nothing in the flow maps the config again: the plan did it once."""
    from tests.support import REPO

    for name in ("sales_forecast.py", "promotion.py"):
        text = (REPO / "flows" / name).read_text()
        for again in (
            "from_config(",
            "feature_spec(",
            "chain_params(",
            "cfg.output.",
            "cfg.model.",
        ):
            assert again not in text, f"flows/{name} calls {again}"
