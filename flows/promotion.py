"""The release phase of a run: decide, monitor, stage serving, publish, promote, serve.

Promotion is the commit point. The champion pointer (``registry/{model}/champion.json``)
moves (``promote``, a compare-and-swap) only after the new version is registered with its
drift profile, its dated serving copy is written and its run directory is complete with
``manifest.json``; then ``serve`` makes ``serving/{model}/latest.*`` follow the pointer. A
run killed anywhere in between leaves the old champion serving (nothing committed) or a
new champion whose dated copy exists, which the next run's ``recover`` step serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from prefect import get_run_logger

from flows import config as conf
from flows import plan as mapping
from flows import reference
from flows.config_schema import CONFIG_SCHEMA_VERSION
from flows.steps import Steps
from tasks import monitor as monitoring
from tasks import publish, registry, release, storage
from tasks.data.aggregate import PanelResult
from tasks.data.clean import CleanResult
from tasks.model.backtest import BacktestResult
from tasks.model.train import TrainedModel
from tasks.report import render as report
from tasks.stages import evaluate_task, forecast_task

MAX_PROMOTION_ATTEMPTS = 3  # re-evaluate when another run moved the champion meanwhile
evaluate_champion_task = evaluate_task.with_options(name="evaluate-champion")
forecast_champion_task = forecast_task.with_options(name="forecast-champion")


@dataclass(frozen=True)
class Trained:
    """What the pipeline stages produced, ready to be released."""

    cleaned: CleanResult
    panel: PanelResult
    features: pl.DataFrame
    model: TrainedModel
    backtest: BacktestResult
    forecasts: pl.DataFrame
    quality: dict[str, Any] | None
    manifest_fields: dict[str, Any]
    config_yaml: str
    target: monitoring.AlertTarget


def release_run(
    steps: Steps, cfg: conf.AppConfig, run: publish.RunInfo, t: Trained
) -> dict[str, Any]:
    """Decide, stage, publish, commit (retried when another run moved the champion), serve;
    returns the flow's result."""
    out, model_name = cfg.data.output_path, cfg.model.model_name
    store = storage.StorageSettings.from_config(cfg.storage)
    production = cfg.mode == "production"  # experiments register, never promote or serve
    registered: str | None = None
    for attempt in range(MAX_PROMOTION_ATTEMPTS):
        decision = decide(steps, cfg, run, t, attempt, registered)
        version = registered = decision.version  # an identical build's, when one was reused
        monitored = monitor(steps, cfg, run, t, decision)
        staged = stage_serving(steps, cfg, run, decision, t) if production else None
        manifest = publish_run(steps, cfg, run, t, decision, monitored, staged)
        if not production:
            promotion = release.experiment_promotion(version, decision.expected)
            break
        promotion = steps.run(
            release.promote_task,
            *(out, model_name, version, decision.gate, decision.expected, store),
            replace_damaged=decision.replace_damaged,
        )
        if not promotion.stale:
            break
    pointer = steps.run(release.serve_task, out, model_name, store) if production else None
    served_by = "nothing"  # unless latest serves the copy this run staged
    if staged is not None and pointer is not None and pointer["dated_uri"] == staged["dated_uri"]:
        served_by = staged["model_version"]
    get_run_logger().info(
        "run %s done (mode=%s): %s; gate %s; champion %s; serving %s; steps %s",
        run.run_id,
        cfg.mode,
        manifest["run_dir"],
        "passed" if decision.gate["passed"] else "failed",
        promotion.champion or "none",
        served_by,
        {k: v["state"] for k, v in steps.records.items()},
    )
    return {
        "run_id": run.run_id,
        "run_dir": manifest["run_dir"],
        "gate": decision.gate,
        "model_version": version,
        "mode": cfg.mode,
        "promoted": promotion.promoted,
        "served_by": served_by,
        "serving": pointer,
        "steps": steps.records,
    }


def publish_run(
    steps: Steps,
    cfg: conf.AppConfig,
    run: publish.RunInfo,
    t: Trained,
    decision: Decision,
    monitored: dict[str, Any],
    staged: dict[str, Any] | None,
) -> dict[str, Any]:
    """Render the report and write the run directory (manifest last); returns the manifest.

    Written before the champion pointer moves, so it records the decision (``promote``,
    ``reject``, or ``experiment``: not for promotion), not its outcome: ``champion.json``
    is the source of truth.
    """
    production = cfg.mode == "production"
    out, model_name, version = cfg.data.output_path, cfg.model.model_name, decision.version
    store = storage.StorageSettings.from_config(cfg.storage)
    promoting = bool(decision.gate["passed"]) and cfg.mode == "production"
    last_served = steps.run(release.last_served_task, out, model_name, store)  # before serve
    report_inputs = report.ReportInputs(
        run_id=run.run_id,
        generated_at=run.started_at,
        series_keys=list(cfg.data.series_keys),
        history=t.panel.panel,
        backtest=t.backtest.predictions,
        forecasts=t.forecasts,
        metrics=decision.metrics,
        feature_importance=t.model.feature_importance(),
        row_counts=t.manifest_fields["row_counts"],
        champion_history=steps.run(release.history_task, out, model_name, store),
        chosen_series=cfg.output.report_series,
        top_n=cfg.output.report_top_n,
        model_version=version,
        serving=release.serving_label(
            version, promoting, staged["model_version"] if staged else "nothing", cfg.mode
        ),
        quality=t.quality,
        drift=monitored.get("drift.json"),
        realised=monitored.get("realised.json"),
        segment_by=cfg.evaluation.segment_by,
        last_served=last_served,
    )
    pointer_file = storage.join(registry.registry_path(out, model_name), registry.CHAMPION_FILE)
    artifacts = publish.RunArtifacts(
        config_yaml=t.config_yaml,
        metrics=decision.metrics,
        forecasts=release.marked(t.forecasts, version, "champion" if promoting else "challenger"),
        model=t.model,
        quarantine=t.cleaned.quarantine,
        backtest=t.backtest.predictions,
        report_html=steps.run(release.report_task, report_inputs),
        extra_json={"quality.json": t.quality, **monitored} if t.quality else monitored,
        manifest={
            **t.manifest_fields,
            "steps": steps.records,
            "model_name": model_name,
            "model_version": version,
            "model_version_reused": version != run.run_id,
            "mode": cfg.mode,
            "promotion": {
                "decision": "promote" if promoting else ("reject" if production else "experiment"),
                "compared_with": decision.expected,
                "champion_pointer": storage.uri(pointer_file),
            },
            "serving": staged,
        },
    )
    manifest: dict[str, Any] = steps.run(
        release.publish_task,
        *(run, artifacts, store, report_inputs, t.target),
        link_expiry_seconds=cfg.output.report_link_expiry_seconds,
    )
    return manifest


@dataclass(frozen=True)
class Decision:
    """The gate, the metrics with it and the champion it was decided against."""

    gate: dict[str, Any]
    metrics: dict[str, Any]
    champion: release.ChampionModel | None
    champion_cfg: conf.AppConfig | None  # set only when the champion is comparable
    damaged: release.DamagedChampion | None = None  # a champion nobody can load
    version: str = ""  # this run's registry version (an identical build's, when reused)

    @property
    def expected(self) -> str | None:
        """The champion this decision was made against (promotion is a compare-and-swap)."""
        if self.champion is not None:
            return self.champion.version
        return self.damaged.version if self.damaged is not None else None

    @property
    def replace_damaged(self) -> bool:
        """True when ``champion.json`` itself was unreadable: a passing model replaces it."""
        return self.damaged is not None and self.damaged.version is None


def decide(
    steps: Steps,
    cfg: conf.AppConfig,
    run: publish.RunInfo,
    t: Trained,
    attempt: int = 0,
    registered: str | None = None,
) -> Decision:
    """Gate against seasonal naive and the champion re-scored on the same windows; the first
    attempt registers the version, or reuses the identical build's (``registered``: the
    version an earlier attempt registered); the champion pointer moves later, in ``promote``."""
    out, model_name = cfg.data.output_path, cfg.model.model_name
    version = registered or run.run_id
    store = storage.StorageSettings.from_config(cfg.storage)
    found = steps.run(release.champion_task, out, model_name, store)
    # A damaged champion is judged as none; a passing model replaces it.
    damaged = found if isinstance(found, release.DamagedChampion) else None
    champ = None if isinstance(found, release.DamagedChampion) else found
    champ_cfg, problem, champ_metrics, best = None, None, None, None
    if champ is not None:
        name = f"champion {champ.version}"
        champ_cfg, problem, dropped = conf.load_comparable(
            cfg, champ.config_yaml, champ.uri, name, champ.config_schema_version
        )
        release.report_set_aside(champ.version, dropped)
    if champ is not None and champ_cfg is not None and problem is None:
        champ_metrics = steps.run(
            evaluate_champion_task,
            panel=t.panel.panel,
            spec=mapping.feature_spec(champ_cfg),
            params=mapping.backtest_params(cfg),
            train=mapping.train_params(champ_cfg),
        ).metrics
        best = reference.best_recent_champion(
            steps, cfg, t.panel.panel, champ, champ_cfg, champ_metrics
        )
    gate = steps.run(
        release.gate_task,
        t.backtest.metrics,
        cfg.evaluation.min_improvement,
        cfg.evaluation.max_regression,
        champ.version if champ else (damaged.version if damaged else None),
        champ_metrics,
        problem,
        damaged.problem if damaged else None,
        best,
    )
    metrics = {**t.backtest.metrics, "gate": gate}
    if registered is None:  # first attempt: register, or reuse the identical build's version
        identity = {**t.manifest_fields, **publish.run_identity(run)}
        digests = registry.Digests(
            publish.code_digest(), conf.config_digest(t.config_yaml), CONFIG_SCHEMA_VERSION
        )
        version = steps.run(
            release.register_task,
            *(out, model_name, version, t.model, metrics, t.config_yaml, identity, store),
            digests=digests,
        ).version
    comparable = champ_cfg if problem is None else None
    return Decision(gate, metrics, champ, comparable, damaged, version)


def stage_serving(
    steps: Steps, cfg: conf.AppConfig, run: publish.RunInfo, decision: Decision, t: Trained
) -> dict[str, Any] | None:
    """Write the dated serving copy of what this run will serve: its own forecasts if its
    gate passed, else the champion's for this run's data; ``None`` when neither applies."""
    out, model_name = cfg.data.output_path, cfg.model.model_name
    store = storage.StorageSettings.from_config(cfg.storage)
    champ, champ_cfg = decision.champion, decision.champion_cfg
    if decision.gate["passed"]:
        served_by, served = decision.version, t.forecasts
    elif champ is not None and champ_cfg is not None:
        served_by = champ.version
        served = steps.run(
            forecast_champion_task,
            model=champ.model,
            panel=t.panel.panel,
            spec=mapping.feature_spec(champ_cfg),
            params=mapping.chain_params(cfg).forecast,
            storage_settings=store,
        )
    else:
        get_run_logger().warning(
            "stage-serving: gate failed and no comparable champion of %s: serving unchanged",
            model_name,
        )
        return None
    pointer: dict[str, Any] = steps.run(
        release.stage_serving_task,
        *(out, model_name, served, served_by, run.run_id, run.started_at.date(), store),
    )
    return pointer


def monitor(
    steps: Steps, cfg: conf.AppConfig, run: publish.RunInfo, t: Trained, decision: Decision
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
        features=t.features,
        normalize=spec.normalize,
        columns=plan.columns,
        bins=plan.bins,
        segment_by=plan.segment_by,
        model_version=run.run_id,
        window=plan.window,
    )
    folder = registry.version_path(out, model_name, decision.version)
    steps.run(monitoring.save_profile_task, profile=profile, folder=folder, settings=store)
    champ = decision.champion  # its profile is the reference, if it is comparable at all
    reference = None
    if champ is not None and decision.champion_cfg is not None:
        reference = registry.version_path(out, model_name, champ.version)
    drift_report = steps.run(
        monitoring.drift_task,
        features=t.features,
        reference_folder=reference,
        window=plan.window,
        params=plan.params,
        target=t.target,
        settings=store,
    )
    realised = steps.run(
        monitoring.realised_task,
        panel=t.panel.panel,
        series_keys=list(cfg.data.series_keys),
        output_path=out,
        history_root=mon.history_path,
        backtest_metrics=t.backtest.metrics,
        params=mapping.monitoring_plan(cfg).accuracy,  # type: ignore[union-attr]
        target=t.target,
        settings=store,
    )
    found = {"profile.json": profile, "drift.json": drift_report, "realised.json": realised}
    return {name: content for name, content in found.items() if content is not None}
