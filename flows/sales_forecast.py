"""The ``sales-forecast`` flow: compose the config, then wire one task per stage."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows import config as conf
from flows import plan as mapping
from flows import promotion
from flows.events import batch_trigger, trigger
from flows.steps import Steps
from tasks import monitor as monitoring
from tasks import publish, registry, release, storage
from tasks.model.backtest import check_history
from tasks.registry import serving
from tasks.stages import (
    aggregate_task,
    clean_task,
    evaluate_task,
    features_task,
    forecast_task,
    generate_task,
    ingest_task,
    no_clean_rows_task,
    prepare_aus_retail_task,
    train_task,
)

RECOVERY_FIELDS = ("removed", "changed", "problems", "replaced_damaged")  # kept in the manifest


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
    upload, overrides, triggered_by = batch_trigger.from_parameters(
        s3_object, s3_batch, overrides or []
    )
    node = conf.compose_config(overrides)
    cfg = conf.to_app_config(node)
    if upload is not None:
        trigger.check_composed(upload, overrides, cfg.data.input_path)
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    run = publish.RunInfo(
        run_id=publish.make_run_id(started, str(flow_run.get_id() or "local")),
        flow_run_id=str(flow_run.get_id()),
        started_at=started,
        output_path=cfg.data.output_path,
    )
    logger.info(
        "run %s: mode=%s data=%s input=%s model=%s overrides=%s",
        run.run_id,
        cfg.mode,
        cfg.data.name,
        cfg.data.input_path,
        cfg.model.model_name,
        overrides or [],
    )
    store = storage.StorageSettings.from_config(cfg.storage)  # endpoint, region, block name
    steps = Steps(
        cfg.output.result_storage,
        refresh=not cfg.output.cache,
        settings=store,
        key_block=cfg.output.cache_key_block,
        retries=mapping.retry_policy(cfg),
    )
    chain = mapping.chain_params(cfg)
    spec = chain.features
    # What a killed run left: temp files, and serving behind the champion pointer.
    recovered = steps.run(
        release.recover_task,
        output_path=cfg.data.output_path,
        model_name=cfg.model.model_name,
        folders=state_folders(cfg),
        settings=store,
    )

    prep = mapping.preparation(cfg)  # built-in data sets are prepared on local disk
    if prep is not None and prep.generator is not None:
        steps.run(generate_task, spec=prep.generator, root=prep.root)
    elif prep is not None:
        steps.run(prepare_aus_retail_task, root=prep.root)
    source = steps.run(ingest_task, params=chain.source, storage_settings=store)
    cleaned = steps.run(clean_task, source=source, params=chain.clean, storage_settings=store)
    if cleaned.daily.height == 0:  # all quarantined: keep the rows in the run dir, say why
        steps.run(no_clean_rows_task, cleaned=cleaned, run_dir=run.run_dir, storage_settings=store)
    panel = steps.run(aggregate_task, daily=cleaned.daily, params=chain.panel)
    check_history(panel.panel, spec, chain.backtest)  # too short fails here, before training
    target = alert_target(cfg, run)
    quality = None
    if cfg.monitoring.enabled:  # fails the run here, before training, on a hard breach
        quality = steps.run(
            monitoring.quality_task,
            cleaned=cleaned,
            panel=panel.panel,
            params=mapping.quality_params(cfg),
            history_root=cfg.monitoring.history_path,
            run_dir=run.run_dir,
            target=target,
            settings=store,
        )
    frame = steps.run(features_task, panel=panel.panel, spec=spec)
    model = steps.run(train_task, frame=frame, spec=spec, params=chain.train)
    backtest = steps.run(
        evaluate_task, panel=panel.panel, spec=spec, params=chain.backtest, train=chain.train
    )
    forecasts = steps.run(
        forecast_task,
        model=model,
        panel=panel.panel,
        spec=spec,
        params=chain.forecast,
        storage_settings=store,
    )
    manifest_fields = {
        **publish.manifest_fields(
            source=source,
            cleaned=cleaned,
            panel=panel,
            features=frame,
            model=model,
            backtest=backtest,
            forecasts=forecasts,
            steps=steps.records,
            series_keys=list(cfg.data.series_keys),
        ),
        "trigger": triggered_by,
        "recovery": {k: recovered[k] for k in RECOVERY_FIELDS},  # what this run repaired
    }
    trained = promotion.Trained(
        cleaned=cleaned,
        panel=panel,
        features=frame,
        model=model,
        backtest=backtest,
        forecasts=forecasts,
        quality=quality,
        manifest_fields=manifest_fields,
        config_yaml=conf.resolved_yaml(node),
        target=target,
    )
    return promotion.release_run(steps, cfg, run, trained)


def state_folders(cfg: conf.AppConfig) -> list[str]:
    """The folders of shared state a killed run may have left temp files in."""
    out, model_name = cfg.data.output_path, cfg.model.model_name
    return [
        storage.join(out, "runs"),
        registry.registry_path(out, model_name),
        serving.serving_root(out, model_name),
        cfg.monitoring.history_path,
    ]


def alert_target(cfg: conf.AppConfig, run: publish.RunInfo) -> monitoring.AlertTarget:
    """Where this run's alert events go (``monitoring.alerts``)."""
    return monitoring.AlertTarget(
        enabled=cfg.monitoring.enabled and cfg.monitoring.alerts.enabled,
        dataset=cfg.data.name,
        run_id=run.run_id,
        flow_run_id=run.flow_run_id,
        prefix=cfg.monitoring.alerts.event_prefix,
        model_name=cfg.model.model_name,
        model_version=run.run_id,
    )
