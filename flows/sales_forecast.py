"""The ``sales-forecast`` flow: compose the config, then wire one task per stage."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, ParamSpec, TypeVar

from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows import config as conf
from tasks import publish, storage
from tasks.caching import result_storage
from tasks.stages import (
    IO_RETRY,
    aggregate_task,
    clean_task,
    evaluate_task,
    features_task,
    forecast_task,
    generate_task,
    ingest_task,
    prepare_aus_retail_task,
    train_task,
)

P = ParamSpec("P")
R = TypeVar("R")


@task(name="publish", cache_policy=NO_CACHE, **IO_RETRY)
def publish_task(
    run: publish.RunInfo,
    artifacts: publish.RunArtifacts,
    storage_settings: storage.StorageSettings | None = None,
) -> dict[str, Any]:
    """Write the run directory; the manifest goes last."""
    manifest = publish.write_run(run, artifacts, storage_settings)
    get_run_logger().info(
        "publish: wrote %d artifacts to %s", len(manifest["artifacts"]) + 1, run.run_dir
    )
    return manifest


class Steps:
    """Runs tasks in order and records each one's final state and wall time."""

    def __init__(
        self, storage_path: str, refresh: bool, settings: storage.StorageSettings | None = None
    ) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._options: dict[str, Any] = {
            "result_storage": result_storage(storage_path, settings),
            "refresh_cache": refresh,
        }

    def run(self, stage: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``stage`` and return its result, raising if it failed."""
        start = time.perf_counter()
        configured = (
            stage.with_options(**self._options) if stage.cache_policy is not NO_CACHE else stage
        )
        state = configured(*args, return_state=True, **kwargs)
        self.records[stage.name] = {
            "state": state.name,
            "seconds": round(time.perf_counter() - start, 3),
        }
        return state.result()


@flow(name="sales-forecast", log_prints=False)
def sales_forecast(overrides: list[str] | None = None) -> dict[str, Any]:
    """Run the pipeline on ``conf/`` composed with Hydra ``overrides`` (``data.frequency=1w``)."""
    node = conf.compose_config(overrides)
    cfg = conf.to_app_config(node)
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    run = publish.RunInfo(
        run_id=publish.make_run_id(started, str(flow_run.get_id() or "local")),
        flow_run_id=str(flow_run.get_id()),
        started_at=started,
        output_path=cfg.data.output_path,
    )
    logger.info(
        "run %s: data=%s input=%s overrides=%s",
        run.run_id,
        cfg.data.name,
        cfg.data.input_path,
        overrides or [],
    )
    store = storage.StorageSettings.from_config(cfg.storage)  # endpoint, region, block name
    steps = Steps(cfg.output.result_storage, refresh=not cfg.output.cache, settings=store)
    spec = conf.feature_spec(cfg)
    params = conf.hyperparameters(cfg)
    seed = cfg.random_seed
    n_rounds = cfg.model.num_boost_round

    # Built-in data sets are prepared on local disk; a URL input is read as it is.
    builtin = None if storage.is_remote(cfg.data.input_path) else cfg.data.builtin
    if builtin == "synthetic":
        steps.run(generate_task, conf.generator_spec(cfg), cfg.data.input_path)
    elif builtin == "aus_retail":
        steps.run(prepare_aus_retail_task, cfg.data.input_path)
    source = steps.run(
        ingest_task, cfg.data.input_path, cfg.data.file_format, conf.extra_columns(cfg), store
    )
    cleaned = steps.run(clean_task, source, conf.clean_params(cfg), store)
    panel = steps.run(
        aggregate_task,
        cleaned.daily,
        list(cfg.data.series_keys),
        cfg.data.frequency,
        cfg.preprocessing.missing_periods,
        cfg.preprocessing.drop_incomplete_periods,
    )
    frame = steps.run(features_task, panel.panel, spec)
    model = steps.run(train_task, frame, spec, params, n_rounds, seed)
    backtest = steps.run(
        evaluate_task,
        panel.panel,
        spec,
        conf.backtest_params(cfg),
        params,
        n_rounds,
        seed,
        cfg.evaluation.min_improvement,
    )
    forecasts = steps.run(
        forecast_task,
        model,
        panel.panel,
        spec,
        conf.horizon(cfg),
        cfg.forecast.promo_plan_path,
        store,
    )

    manifest_fields = publish.manifest_fields(
        source=source,
        cleaned=cleaned,
        panel=panel,
        features=frame,
        model=model,
        backtest=backtest,
        forecasts=forecasts,
        steps=steps.records,
        series_keys=list(cfg.data.series_keys),
    )
    artifacts = publish.RunArtifacts(
        config_yaml=conf.resolved_yaml(node),
        metrics=backtest.metrics,
        forecasts=forecasts,
        model=model,
        quarantine=cleaned.quarantine,
        backtest=backtest.predictions,
        manifest=manifest_fields,
    )
    manifest = steps.run(publish_task, run, artifacts, store)
    gate = backtest.metrics["gate"]
    logger.info(
        "run %s done: %s; gate %s; steps %s",
        run.run_id,
        manifest["run_dir"],
        "passed" if gate["passed"] else "failed",
        {k: v["state"] for k, v in steps.records.items()},
    )
    return {
        "run_id": run.run_id,
        "run_dir": manifest["run_dir"],
        "gate": gate,
        "steps": steps.records,
    }
