"""The ``sales-forecast`` flow: compose the config, then wire one task per stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows import config as conf
from flows import plan as mapping
from flows import runner
from flows.events import trigger
from flows.steps import Steps
from tasks import monitor as monitoring
from tasks import publish, registry, release, storage
from tasks.model.backtest import BacktestResult, check_history
from tasks.model.train import TrainedModel
from tasks.report import render as report
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
)

MAX_PROMOTION_ATTEMPTS = 3  # re-evaluate when another run moved the champion meanwhile
evaluate_champion_task = evaluate_task.with_options(name="evaluate-champion")
forecast_champion_task = forecast_task.with_options(name="forecast-champion")


@flow(name="sales-forecast", log_prints=False)
def sales_forecast(
    overrides: list[str] | None = None, s3_object: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the pipeline on ``conf/`` composed with Hydra ``overrides`` (``data.frequency=1w``).

    ``s3_object`` (``{"bucket": ..., "key": ..., "etag": ...}``, from an upload event) makes
    the run read the landing prefix that holds that object; it is checked against the
    landing allow-list before anything else, and reaches the config only as data.
    """
    upload = None
    if s3_object is not None:
        upload = trigger.checked_upload(s3_object, trigger.landing_from_env())
        overrides = trigger.upload_overrides(upload, overrides or [])
    node = conf.compose_config(overrides)
    cfg = conf.to_app_config(node)
    if upload is not None:
        trigger.check_composed(upload, overrides or [], cfg.data.input_path)
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    run = publish.RunInfo(
        run_id=publish.make_run_id(started, str(flow_run.get_id() or "local")),
        flow_run_id=str(flow_run.get_id()),
        started_at=started,
        output_path=cfg.data.output_path,
    )
    logger.info(
        "run %s: data=%s input=%s model=%s overrides=%s",
        run.run_id,
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
    out, model_name, version = cfg.data.output_path, cfg.model.model_name, run.run_id

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
    with runner.session(cfg.runner) as dask:  # None unless runner=dask; open until the gate
        model = runner.train(steps, dask, cfg.runner, frame=frame, spec=spec, params=chain.train)
        backtest = runner.evaluate(
            steps, dask, panel=panel.panel, spec=spec, params=chain.backtest, train=chain.train
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
            "trigger": upload.as_dict() if upload else None,
        }
        config_yaml = conf.resolved_yaml(node)

        decision = decide(
            steps, cfg, run, panel.panel, backtest, model, config_yaml, manifest_fields, dask
        )
    monitored = monitor(steps, cfg, run, target, decision, frame, panel.panel, backtest)
    served_by, serving_pointer = serve(steps, cfg, run, decision, forecasts, panel.panel)
    promotion, gate, metrics = decision.promotion, decision.gate, decision.metrics
    role = "champion" if promotion.promoted else "challenger"

    report_inputs = report.ReportInputs(
        run_id=run.run_id,
        generated_at=started,
        series_keys=list(cfg.data.series_keys),
        history=panel.panel,
        backtest=backtest.predictions,
        forecasts=forecasts,
        metrics=metrics,
        feature_importance=model.feature_importance(),
        row_counts=manifest_fields["row_counts"],
        champion_history=steps.run(release.history_task, out, model_name, store),
        chosen_series=cfg.output.report_series,
        top_n=cfg.output.report_top_n,
        model_version=version,
        serving=release.serving_label(version, promotion.promoted, served_by),
        quality=quality,
        drift=monitored.get("drift.json"),
        realised=monitored.get("realised.json"),
    )
    artifacts = publish.RunArtifacts(
        config_yaml=config_yaml,
        metrics=metrics,
        forecasts=release.marked(forecasts, version, role),
        model=model,
        quarantine=cleaned.quarantine,
        backtest=backtest.predictions,
        report_html=steps.run(release.report_task, report_inputs),
        extra_json={"quality.json": quality, **monitored} if quality else monitored,
        manifest={
            **manifest_fields,
            "steps": steps.records,
            "model_name": model_name,
            "model_version": version,
            "promotion": {"promoted": promotion.promoted, "event": promotion.event},
            "serving": serving_pointer,
        },
    )
    manifest = steps.run(release.publish_task, run, artifacts, store, report_inputs)
    logger.info(
        "run %s done: %s; gate %s; champion %s; serving %s; steps %s",
        run.run_id,
        manifest["run_dir"],
        "passed" if gate["passed"] else "failed",
        promotion.champion or "none",
        served_by,
        {k: v["state"] for k, v in steps.records.items()},
    )
    return {
        "run_id": run.run_id,
        "run_dir": manifest["run_dir"],
        "gate": gate,
        "model_version": version,
        "promoted": promotion.promoted,
        "served_by": served_by,
        "serving": serving_pointer,
        "steps": steps.records,
    }


@dataclass(frozen=True)
class Decision:
    """The gate, the metrics with it, the registry's answer and the champion compared with."""

    gate: dict[str, Any]
    metrics: dict[str, Any]
    promotion: release.Promotion
    champion: release.ChampionModel | None
    champion_cfg: conf.AppConfig | None  # set only when the champion is comparable


def decide(
    steps: Steps,
    cfg: conf.AppConfig,
    run: publish.RunInfo,
    panel: pl.DataFrame,
    backtest: BacktestResult,
    model: TrainedModel,
    config_yaml: str,
    manifest_fields: dict[str, Any],
    dask: Any = None,
) -> Decision:
    """Gate against seasonal naive and the champion re-scored on the same windows, register,
    then move the champion pointer (compare-and-swap; re-evaluate if another run won)."""
    out, model_name, version = cfg.data.output_path, cfg.model.model_name, run.run_id
    store = storage.StorageSettings.from_config(cfg.storage)
    for attempt in range(MAX_PROMOTION_ATTEMPTS):
        found = steps.run(release.champion_task, out, model_name, store)
        # A damaged champion is judged as none; a passing model replaces it.
        damaged = found if isinstance(found, release.DamagedChampion) else None
        champ = None if isinstance(found, release.DamagedChampion) else found
        champ_cfg, problem, champ_metrics = None, None, None
        if champ is not None:
            name = f"champion {champ.version}"
            champ_cfg, problem = conf.load_comparable(cfg, champ.config_yaml, champ.uri, name)
        if champ_cfg is not None and problem is None:
            champ_metrics = runner.evaluate(  # on the cluster too when runner=dask
                steps,
                dask,
                panel=panel,
                spec=mapping.feature_spec(champ_cfg),
                params=mapping.backtest_params(cfg),
                train=mapping.train_params(champ_cfg),
                stage=evaluate_champion_task,
            ).metrics
        expected = champ.version if champ else (damaged.version if damaged else None)
        gate = steps.run(
            release.gate_task,
            backtest.metrics,
            cfg.evaluation.min_improvement,
            cfg.evaluation.max_regression,
            expected,
            champ_metrics,
            problem,
            damaged.problem if damaged else None,
        )
        metrics = {**backtest.metrics, "gate": gate}
        if attempt == 0:
            registered = {**manifest_fields, **publish.run_identity(run)}
            steps.run(
                release.register_task,
                *(out, model_name, version, model, metrics, config_yaml, registered, store),
            )
        promotion = steps.run(
            release.promote_task,
            *(out, model_name, version, gate, expected, store),
            replace_damaged=damaged is not None and damaged.version is None,
        )
        if not promotion.stale:
            break
    comparable = champ_cfg if problem is None else None
    return Decision(gate, metrics, promotion, champ, comparable)


def serve(
    steps: Steps,
    cfg: conf.AppConfig,
    run: publish.RunInfo,
    decision: Decision,
    forecasts: pl.DataFrame,
    panel: pl.DataFrame,
) -> tuple[str, dict[str, Any] | None]:
    """Serve this run's forecasts if it is the champion, else the champion's; returns
    (version served or ``"nothing"``, the serving pointer)."""
    out, model_name = cfg.data.output_path, cfg.model.model_name
    store = storage.StorageSettings.from_config(cfg.storage)
    champ, champ_cfg = decision.champion, decision.champion_cfg
    if decision.promotion.promoted:
        served_by, served = run.run_id, forecasts
    elif champ is not None and champ_cfg is not None:
        served_by = champ.version
        served = steps.run(
            forecast_champion_task,
            model=champ.model,
            panel=panel,
            spec=mapping.feature_spec(champ_cfg),
            params=mapping.chain_params(cfg).forecast,
            storage_settings=store,
        )
    else:
        get_run_logger().warning(
            "serve: gate failed and no comparable champion of %s: serving output unchanged",
            model_name,
        )
        return "nothing", None
    pointer = steps.run(
        release.serve_task,
        *(out, model_name, served, served_by, run.run_id, run.started_at.date(), store),
    )
    return served_by, pointer


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


def monitor(
    steps: Steps,
    cfg: conf.AppConfig,
    run: publish.RunInfo,
    target: monitoring.AlertTarget,
    decision: Decision,
    features: pl.DataFrame,
    panel: pl.DataFrame,
    backtest: BacktestResult,
) -> dict[str, Any]:
    """Save this model's drift profile; drift against the champion's; realised accuracy.

    Returns the run's extra JSON artifacts by file name (``profile.json``, ``drift.json``,
    ``realised.json``; the last two only when there is something to compare).
    """
    if not cfg.monitoring.enabled:
        return {}
    out, model_name, mon = cfg.data.output_path, cfg.model.model_name, cfg.monitoring
    store = storage.StorageSettings.from_config(cfg.storage)
    spec = mapping.feature_spec(cfg)
    plan = mapping.drift_plan(cfg)
    profile = steps.run(
        monitoring.profile_task,
        features=features,
        normalize=spec.normalize,
        columns=plan.columns,
        bins=plan.bins,
        segment_by=plan.segment_by,
        model_version=run.run_id,
        window=plan.window,
    )
    folder = registry.version_path(out, model_name, run.run_id)
    steps.run(monitoring.save_profile_task, profile=profile, folder=folder, settings=store)
    champ = decision.champion  # its profile is the reference, if it is comparable at all
    reference = None
    if champ is not None and decision.champion_cfg is not None:
        reference = registry.version_path(out, model_name, champ.version)
    drift_report = steps.run(
        monitoring.drift_task,
        features=features,
        reference_folder=reference,
        window=plan.window,
        params=plan.params,
        target=target,
        settings=store,
    )
    realised = steps.run(
        monitoring.realised_task,
        panel=panel,
        series_keys=list(cfg.data.series_keys),
        output_path=out,
        history_root=mon.history_path,
        backtest_metrics=backtest.metrics,
        params=mapping.monitoring_plan(cfg).accuracy,  # type: ignore[union-attr]
        target=target,
        settings=store,
    )
    found = {"profile.json": profile, "drift.json": drift_report, "realised.json": realised}
    return {name: content for name, content in found.items() if content is not None}
