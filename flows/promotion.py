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
from flows import reference, runner
from flows.config_schema import CONFIG_SCHEMA_VERSION
from flows.plan import RunPlan
from flows.steps import Steps
from tasks import monitor as monitoring
from tasks import publish, registry, release, storage
from tasks.data.aggregate import PanelResult
from tasks.data.clean import CleanResult
from tasks.data.ingest import RawSource
from tasks.model.backtest import BacktestResult
from tasks.model.ensemble import Ensemble
from tasks.model.gate import GateDecision
from tasks.registry.serving import ServingPointer
from tasks.report import render as report
from tasks.stages import evaluate_task, forecast_task

MAX_PROMOTION_ATTEMPTS = 3  # re-evaluate when another run moved the champion meanwhile
evaluate_champion_task = evaluate_task.with_options(name="evaluate-champion")
forecast_champion_task = forecast_task.with_options(name="forecast-champion")


@dataclass(frozen=True)
class Trained:
    """What the pipeline stages produced, ready to be released."""

    source: RawSource
    cleaned: CleanResult
    panel: PanelResult
    features: pl.DataFrame
    model: Ensemble
    backtest: BacktestResult
    forecasts: pl.DataFrame
    quality: dict[str, Any] | None
    recovered: dict[str, Any]  # what this run's ``recover`` step repaired

    def manifest(
        self, plan: RunPlan, steps: Steps, release_section: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """This run's manifest (:func:`tasks.publish.build_manifest`), so far."""
        produced = publish.manifest_fields(
            source=self.source,
            cleaned=self.cleaned,
            panel=self.panel,
            features=self.features,
            model=self.model,
            backtest=self.backtest,
            forecasts=self.forecasts,
            series_keys=plan.series_keys,
        )
        return publish.build_manifest(
            plan.run,
            produced,
            steps=steps.records,
            trigger=plan.trigger,
            config_sources=plan.config_sources,
            recovery=self.recovered,
            release=release_section,
        )


def release_run(steps: Steps, plan: RunPlan, t: Trained, dask: Any = None) -> dict[str, Any]:
    """Decide, stage, publish, commit (retried when another run moved the champion), serve;
    returns the flow's result. ``dask``: the open Dask task runner of ``runner=dask``."""
    production = plan.config.mode == "production"  # experiments never promote or serve
    registered: str | None = None
    for attempt in range(MAX_PROMOTION_ATTEMPTS):
        decision = decide(steps, plan, t, attempt, registered, dask)
        version = registered = decision.version  # an identical build's, when one was reused
        monitored = monitor(steps, plan, t, decision)
        staged = stage_serving(steps, plan, decision, t) if production else None
        manifest = publish_run(steps, plan, t, decision, monitored, staged)
        if not production:
            promotion = release.experiment_promotion(version, decision.expected)
            break
        promotion = steps.run(
            release.promote_task,
            output_path=plan.output_path,
            model_name=plan.model_name,
            version=version,
            gate=decision.gate,
            expected=decision.expected,
            settings=plan.storage,
            replace_damaged=decision.replace_damaged,
        )
        if not promotion.stale:
            break
    pointer = (
        steps.run(
            release.serve_task,
            output_path=plan.output_path,
            model_name=plan.model_name,
            settings=plan.storage,
        )
        if production
        else None
    )
    served_by: str | None = "nothing"  # unless latest serves the copy this run staged
    if staged is not None and pointer is not None and pointer["dated_uri"] == staged["dated_uri"]:
        served_by = staged["model_version"]
    get_run_logger().info(
        "run %s done (mode=%s): %s; gate %s; champion %s; serving %s; steps %s",
        plan.run.run_id,
        plan.config.mode,
        manifest["run_dir"],
        "passed" if decision.gate["passed"] else "failed",
        promotion.champion or "none",
        served_by,
        {k: v["state"] for k, v in steps.records.items()},
    )
    return {
        "run_id": plan.run.run_id,
        "run_dir": manifest["run_dir"],
        "gate": decision.gate,
        "model_version": version,
        "mode": plan.config.mode,
        "promoted": promotion.promoted,
        "served_by": served_by,
        "serving": pointer,
        "steps": steps.records,
    }


def publish_run(
    steps: Steps,
    plan: RunPlan,
    t: Trained,
    decision: Decision,
    monitored: dict[str, Any],
    staged: ServingPointer | None,
) -> dict[str, Any]:
    """Render the report and write the run directory (manifest last); returns the manifest.

    Written before the champion pointer moves, so it records the decision (``promote``,
    ``reject``, or ``experiment``: not for promotion), not its outcome: ``champion.json``
    is the source of truth.
    """
    out, model_name, version = plan.output_path, plan.model_name, decision.version
    production = plan.config.mode == "production"
    promoting = bool(decision.gate["passed"]) and production
    last_served = steps.run(  # before this run serves: for the report's change column
        release.last_served_task, out, model_name, plan.storage
    )
    pointer_file = storage.join(registry.registry_path(out, model_name), registry.CHAMPION_FILE)
    manifest = t.manifest(
        plan,
        steps,
        {
            "model_name": model_name,
            "model_version": version,
            "model_version_reused": version != plan.run.run_id,
            "mode": plan.config.mode,
            "promotion": {
                "decision": "promote" if promoting else ("reject" if production else "experiment"),
                "compared_with": decision.expected,
                "champion_pointer": storage.uri(pointer_file),
            },
            "serving": staged,
        },
    )
    report_inputs = report.ReportInputs(
        run_id=version,
        generated_at=plan.run.started_at,
        series_keys=plan.series_keys,
        history=t.panel.panel,
        backtest=t.backtest.predictions,
        forecasts=t.forecasts,
        metrics=decision.metrics,
        feature_importance=t.model.feature_importance(),
        row_counts=manifest["row_counts"],
        champion_history=steps.run(
            release.history_task, output_path=out, model_name=model_name, settings=plan.storage
        ),
        chosen_series=plan.report.chosen_series,
        top_n=plan.report.top_n,
        model_version=version,
        serving=release.serving_label(
            version,
            promoting,
            (staged["model_version"] or "nothing") if staged else "nothing",
            plan.config.mode,
        ),
        quality=t.quality,
        drift=monitored.get("drift.json"),
        realised=monitored.get("realised.json"),
        segment_by=plan.config.evaluation.segment_by,
        last_served=last_served,
    )
    artifacts = publish.RunArtifacts(
        config_yaml=plan.config_yaml,
        metrics=decision.metrics,
        forecasts=release.marked(t.forecasts, version, "champion" if promoting else "challenger"),
        model=t.model,
        quarantine=t.cleaned.quarantine,
        backtest=t.backtest.predictions,
        report_html=steps.run(
            release.report_task,
            inputs=report_inputs,
            figure_cache=plan.report.figure_cache,
            storage_settings=plan.storage,
        ),
        extra_json={"quality.json": t.quality, **monitored} if t.quality else monitored,
        manifest=manifest,
    )
    written: dict[str, Any] = steps.run(
        release.publish_task,
        run=plan.run,
        artifacts=artifacts,
        storage_settings=plan.storage,
        report_inputs=report_inputs,
        announce=plan.alerts,
        link_expiry_seconds=plan.config.output.report_link_expiry_seconds,
    )
    return written


@dataclass(frozen=True)
class Decision:
    """The gate, the metrics with it and the champion it was decided against."""

    gate: GateDecision
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
    plan: RunPlan,
    t: Trained,
    attempt: int,
    registered: str | None = None,
    dask: Any = None,
) -> Decision:
    """Gate against the run's best baseline and the champions re-scored on the same windows;
    the first attempt registers the version, or reuses the identical build's (``registered``:
    the version an earlier attempt registered); the champion pointer moves in ``promote``."""
    version = registered or plan.run.run_id
    out, model_name, store = plan.output_path, plan.model_name, plan.storage
    found = steps.run(release.champion_task, output_path=out, model_name=model_name, settings=store)
    # A damaged champion is judged as none; a passing model replaces it.
    damaged = found if isinstance(found, release.DamagedChampion) else None
    champ = None if isinstance(found, release.DamagedChampion) else found
    champ_cfg, problem, champ_metrics, best = None, None, None, None
    if champ is not None:
        name = f"champion {champ.version}"
        champ_cfg, problem, dropped = conf.load_comparable(
            plan.config, champ.config_yaml, champ.uri, name, champ.config_schema_version
        )
        release.report_set_aside(champ.version, dropped)
    if champ is not None and champ_cfg is not None and problem is None:
        theirs = plan.for_champion(champ_cfg)
        champ_metrics = runner.evaluate(  # on the cluster too with runner=dask: cache hits
            steps,
            dask,
            panel=t.panel.panel,
            spec=theirs.features,
            params=plan.chain.backtest,
            train=theirs.train,
            stage=evaluate_champion_task,
        ).metrics
        best = reference.best_recent_champion(
            steps, plan.config, t.panel.panel, champ, champ_cfg, champ_metrics
        )
    gate = steps.run(
        release.gate_task,
        metrics=t.backtest.metrics,
        min_improvement=plan.gate.min_improvement,
        max_regression=plan.gate.max_regression,
        champion_version=champ.version if champ else (damaged.version if damaged else None),
        champion_metrics=champ_metrics,
        champion_problem=problem,
        champion_unusable=damaged.problem if damaged else None,
        reference=best,
    )
    metrics = {**t.backtest.metrics, "gate": gate}
    if registered is None:  # first attempt: register, or reuse the identical build's version
        digests = registry.Digests(
            publish.code_digest(), conf.config_digest(plan.config_yaml), CONFIG_SCHEMA_VERSION
        )
        version = steps.run(
            release.register_task,
            output_path=out,
            model_name=model_name,
            version=version,
            model=t.model,
            metrics=metrics,
            config_yaml=plan.config_yaml,
            manifest=t.manifest(plan, steps),
            settings=store,
            digests=digests,
        ).version
    comparable = champ_cfg if problem is None else None
    return Decision(gate, metrics, champ, comparable, damaged, version)


def stage_serving(
    steps: Steps, plan: RunPlan, decision: Decision, t: Trained
) -> ServingPointer | None:
    """Write the dated serving copy of what this run will serve: its own forecasts if its
    gate passed, else the champion's for this run's data; ``None`` when neither applies."""
    champ, champ_cfg = decision.champion, decision.champion_cfg
    if decision.gate["passed"]:
        served_by, served = decision.version, t.forecasts
    elif champ is not None and champ_cfg is not None:
        served_by = champ.version
        served = steps.run(
            forecast_champion_task,
            model=champ.model,
            panel=t.panel.panel,
            spec=plan.for_champion(champ_cfg).features,
            params=plan.chain.forecast,
            storage_settings=plan.storage,
        )
    else:
        get_run_logger().warning(
            "stage-serving: gate failed and no comparable champion of %s: serving unchanged",
            plan.model_name,
        )
        return None
    return steps.run(
        release.stage_serving_task,
        output_path=plan.output_path,
        model_name=plan.model_name,
        forecasts=served,
        model_version=served_by,
        run_id=plan.run.run_id,
        as_of=plan.run.started_at.date(),
        settings=plan.storage,
    )


def monitor(steps: Steps, plan: RunPlan, t: Trained, decision: Decision) -> dict[str, Any]:
    """Save this model's drift profile; drift against the champion's; realised accuracy.

    Returns the run's extra JSON artifacts by file name (``profile.json``, ``drift.json``,
    ``realised.json``; the last two only when there is something to compare).
    """
    mon = plan.monitoring
    if mon is None:
        return {}
    out, model_name, store, drift = plan.output_path, plan.model_name, plan.storage, mon.drift
    profile = steps.run(
        monitoring.profile_task,
        features=t.features,
        normalize=plan.chain.features.normalize,
        columns=drift.columns,
        bins=drift.bins,
        segment_by=drift.segment_by,
        model_version=plan.run.run_id,
        window=drift.window,
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
        window=drift.window,
        params=drift.params,
        target=plan.alerts,
        settings=store,
    )
    realised = steps.run(
        monitoring.realised_task,
        panel=t.panel.panel,
        series_keys=plan.series_keys,
        output_path=out,
        history_root=mon.history_path,
        backtest_metrics=t.backtest.metrics,
        params=mon.accuracy,
        target=plan.alerts,
        settings=store,
    )
    found = {"profile.json": profile, "drift.json": drift_report, "realised.json": realised}
    return {name: content for name, content in found.items() if content is not None}
