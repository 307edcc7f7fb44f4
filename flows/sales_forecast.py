"""The ``sales-forecast`` flow: compose the config, build the run plan once, run the steps.

The flow body is the pipeline, one line (or one call) per step; the helpers below it do
what a step needs besides its task (composing with an upload's checks, preparing a
built-in data set). The release phase, from the gate to serving, is :mod:`flows.promotion`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from omegaconf import DictConfig
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows import config as conf
from flows import plan as mapping
from flows import promotion, runner
from flows.events import batch_trigger, trigger
from flows.steps import Steps
from tasks import monitor as monitoring
from tasks import release
from tasks.model.backtest import check_history
from tasks.stages import (
    aggregate_task,
    clean_task,
    features_task,
    forecast_task,
    generate_task,
    ingest_task,
    no_clean_rows_task,
    prepare_aus_retail_task,
    train_task,
)


@flow(name="sales-forecast", log_prints=False)
def sales_forecast(
    overrides: list[str] | None = None,
    s3_object: dict[str, str] | None = None,
    s3_batch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the pipeline on ``conf/`` composed with Hydra ``overrides`` (``data.frequency=1w``).

    ``s3_object`` (``{"bucket": ..., "key": ..., "etag": ...}``) or ``s3_batch`` (the
    objects of an upload batch under one landing prefix, from the bridge's batch event)
    makes the run read the landing prefix that holds them; they are checked against the
    landing allow-list before anything else, and reach the config only as data.
    """
    node, cfg, upload, overrides = compose(overrides, s3_object, s3_batch)
    started = dt.datetime.now(dt.UTC)
    plan = mapping.build_plan(node, cfg, flow_run.get_id(), started, upload, overrides)
    run, chain, store, spec = plan.run, plan.chain, plan.storage, plan.chain.features
    get_run_logger().info(
        "run %s: mode=%s data=%s input=%s model=%s overrides=%s",
        *(run.run_id, cfg.mode, cfg.data.name, chain.source.input_path, plan.model_name),
        overrides,
    )
    cache = plan.cache
    steps = Steps(cache.result_storage, cache.refresh, store, cache.key_block, retries=plan.retries)
    # What a killed run left: temp files, and serving behind the champion pointer.
    recovered = steps.run(
        release.recover_task,
        output_path=plan.output_path,
        model_name=plan.model_name,
        folders=plan.state_folders(),
        settings=store,
    )
    prepare_data(steps, plan.preparation)
    source = steps.run(ingest_task, params=chain.source, storage_settings=store)
    cleaned = steps.run(clean_task, source=source, params=chain.clean, storage_settings=store)
    if cleaned.daily.height == 0:  # all quarantined: keep the rows in the run dir, say why
        steps.run(no_clean_rows_task, cleaned=cleaned, run_dir=run.run_dir, storage_settings=store)
    panel = steps.run(aggregate_task, daily=cleaned.daily, params=chain.panel)
    check_history(panel.panel, spec, chain.backtest)  # too short fails here, before training
    quality = None
    if plan.monitoring is not None:  # fails the run here, before training, on a hard breach
        quality = steps.run(
            monitoring.quality_task,
            cleaned=cleaned,
            panel=panel.panel,
            params=plan.monitoring.quality,
            history_root=plan.monitoring.history_path,
            run_dir=run.run_dir,
            target=plan.alerts,
            settings=store,
        )
    frame = steps.run(features_task, panel=panel.panel, spec=spec)
    with runner.session(cfg.runner) as dask:  # None unless runner=dask; open until the gate
        backtest = runner.evaluate(  # chooses how the candidates are combined, on earlier windows
            steps, dask, panel=panel.panel, spec=spec, params=chain.backtest, train=chain.train
        )
        model = steps.run(
            train_task,
            panel=panel.panel,
            spec=spec,
            params=chain.train,
            backtest=chain.backtest,
            combination=backtest.combination,
        )
        forecasts = steps.run(
            forecast_task,
            model=model,
            panel=panel.panel,
            spec=spec,
            params=chain.forecast,
            storage_settings=store,
        )
        trained = promotion.Trained(
            source=source,
            cleaned=cleaned,
            panel=panel,
            features=frame,
            model=model,
            backtest=backtest,
            forecasts=forecasts,
            quality=quality,
            recovered=recovered,
        )
        return promotion.release_run(steps, plan, trained, dask)


def compose(
    overrides: list[str] | None,
    s3_object: dict[str, str] | None,
    s3_batch: dict[str, Any] | None = None,
) -> tuple[DictConfig, conf.AppConfig, dict[str, Any] | None, list[str]]:
    """The composed config (node and typed), what triggered the run (the checked upload or
    upload batch, None for a plain run), and the overrides it was composed with (an upload
    adds its own)."""
    upload, overrides, triggered_by = batch_trigger.from_parameters(
        s3_object, s3_batch, overrides or []
    )
    node = conf.compose_config(overrides)
    cfg = conf.to_app_config(node)
    if upload is not None:
        trigger.check_composed(upload, overrides, cfg.data.input_path)
    return node, cfg, triggered_by, overrides


def prepare_data(steps: Steps, prep: mapping.Preparation | None) -> None:
    """Generate the synthetic data set, or fetch a bundled one, on first use (else nothing)."""
    if prep is not None and prep.generator is not None:
        steps.run(generate_task, spec=prep.generator, root=prep.root)
    elif prep is not None:
        steps.run(prepare_aus_retail_task, root=prep.root)
