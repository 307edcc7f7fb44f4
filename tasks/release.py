"""Prefect tasks after training: read the champion, gate, register, promote, serve, report,
and the recovery every run starts with.

None of these is cached: each reads or changes shared state (the registry, the serving
location) that another run may have moved since. The I/O ones retry transient errors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks import publish, registry, storage
from tasks.model import train
from tasks.model.gate import ChampionMetrics, ChampionScore, GateDecision, UnusableChampion
from tasks.model.gate import gate as gate_decision
from tasks.registry import recovery, serving
from tasks.report import render as report
from tasks.stages import IO_RETRY
from tasks.storage import state

SUMMARY_KEY = "sales-forecast-summary"
SEGMENTS_KEY = "sales-forecast-segments"
UNCACHED: dict[str, Any] = {"cache_policy": NO_CACHE}


@dataclass(frozen=True)
class ChampionModel:
    """The serving version as registered: its config text and its model, ready to predict."""

    version: str
    config_yaml: str
    model: train.TrainedModel
    uri: str


@dataclass(frozen=True)
class DamagedChampion:
    """A champion that cannot be used, and why (the error names the file and the repair).

    ``version`` is the version ``champion.json`` names, ``None`` when ``champion.json``
    itself is unreadable.
    """

    version: str | None
    problem: str


@dataclass(frozen=True)
class Promotion:
    """What the registry did with this run's version."""

    version: str
    promoted: bool
    champion: str | None  # the serving version after this run's decision
    stale: bool  # another run moved the champion since this run compared against it
    event: str


@task(name="read-champion", **UNCACHED, **IO_RETRY)
def champion_task(
    output_path: str, model_name: str, settings: storage.StorageSettings | None = None
) -> ChampionModel | DamagedChampion | None:
    """The current champion's config and model (each file checked against its SHA-256),
    a :class:`DamagedChampion` when it cannot be used, or None before the first promotion."""
    logger = get_run_logger()
    try:
        current = registry.champion(output_path, model_name, settings=settings)
    except state.CorruptStateError as exc:
        logger.warning("champion unusable: %s", exc)
        return DamagedChampion(None, str(exc))
    if current is None:
        logger.info("champion: none yet for %s", model_name)
        return None
    try:
        loaded = load_champion(output_path, model_name, current.version, settings)
    except state.CorruptStateError as exc:
        logger.warning("champion %s unusable: %s", current.version, exc)
        return DamagedChampion(current.version, str(exc))
    logger.info(
        "champion: %s (%s by %s: %s)",
        current.version,
        current.action,
        current.actor,
        current.reason,
    )
    return loaded


def load_champion(
    output_path: str, model_name: str, version: str, settings: storage.StorageSettings | None
) -> ChampionModel:
    """A registered version's config and model, every file verified against ``version.json``.

    Raises
    ------
    state.CorruptStateError
        A file is missing, changed since registration, or unusable (names it and the fix).
    """
    folder = registry.version_path(output_path, model_name, version)
    fix = registry.repair_advice(output_path, model_name, version, settings=settings)

    def text(name: str) -> str:
        data = registry.read_version_file(output_path, model_name, version, name, settings=settings)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            path = storage.join(folder, name)
            raise state.CorruptStateError(path, "not UTF-8 text", fix, f"registry {name}") from exc

    model_text, config_yaml = text("model.txt"), text("config.yaml")
    path, what = storage.join(folder, "manifest.json"), "registry manifest"
    manifest = state.check_object(
        state.parse_json(text("manifest.json").encode(), path, what=what, fix=fix),
        path,
        what=what,
        fix=fix,
        required={"model": dict},
    )
    try:
        model = train.model_from_text(model_text, manifest["model"])
    except (ValueError, lgb.basic.LightGBMError) as exc:
        where, what = storage.join(folder, "model.txt"), "registry model"
        raise state.CorruptStateError(where, f"LightGBM cannot use it: {exc}", fix, what) from exc
    return ChampionModel(version, config_yaml, model, storage.uri(folder))


@task(name="gate", **UNCACHED)
def gate_task(
    metrics: dict[str, Any],
    min_improvement: float,
    max_regression: float,
    champion_version: str | None,
    champion_metrics: dict[str, Any] | None,
    champion_problem: str | None = None,
    champion_unusable: str | None = None,
) -> GateDecision:
    """The promotion decision against seasonal naive and the re-scored champion.

    ``champion_problem`` (the champion is not comparable) fails the gate.
    ``champion_unusable`` (the champion's files are damaged) does not: the model is judged
    against the baselines alone, so a healthy model can replace a champion nobody can load.
    """
    champion = (
        ChampionMetrics(version=champion_version, metrics=champion_metrics)
        if champion_version is not None and champion_metrics is not None
        else None
    )
    decision = gate_decision(metrics, min_improvement, champion, max_regression)
    if champion_problem is not None:
        decision = {
            **decision,
            "passed": False,
            "reasons": [*decision["reasons"], champion_problem],
            "champion": ChampionScore(version=champion_version, wape=None),
        }
    if champion_unusable is not None:  # not compared: no "champion" entry
        kept = [r for r in decision["reasons"] if not r.startswith("no champion yet")]
        judged = f"champion unusable, judged against the baselines only: {champion_unusable}"
        unusable = UnusableChampion(version=champion_version, problem=champion_unusable)
        decision = {**decision, "reasons": [*kept, judged], "champion_unusable": unusable}
    get_run_logger().info(
        "gate: %s: %s", "passed" if decision["passed"] else "failed", "; ".join(decision["reasons"])
    )
    return decision


@task(name="register", **UNCACHED, **IO_RETRY)
def register_task(
    output_path: str,
    model_name: str,
    version: str,
    model: train.TrainedModel,
    metrics: dict[str, Any],
    config_yaml: str,
    manifest: dict[str, Any],
    settings: storage.StorageSettings | None = None,
) -> registry.ModelVersion:
    """Register this run's model as ``version`` (idempotent for the same content)."""
    registered = registry.register(
        output_path,
        model_name,
        version,
        model_text=model.booster.model_to_string(),
        metrics=metrics,
        config_yaml=config_yaml,
        manifest=manifest,
        data_digest=(manifest.get("input") or {}).get("digest"),
        git_commit=manifest.get("git_commit"),
        settings=settings,
    )
    get_run_logger().info("register: %s version %s at %s", model_name, version, registered.uri)
    return registered


@task(name="promote", **UNCACHED, **IO_RETRY)
def promote_task(
    output_path: str,
    model_name: str,
    version: str,
    gate: GateDecision,
    expected: str | None,
    settings: storage.StorageSettings | None = None,
    replace_damaged: bool = False,
) -> Promotion:
    """Promote ``version`` if its gate passed and the champion is still ``expected``
    (``replace_damaged``: or ``champion.json`` is still unreadable)."""
    logger = get_run_logger()
    reason = "; ".join(gate["reasons"])
    if not gate["passed"]:
        registry.reject(
            output_path,
            model_name,
            version,
            actor="sales-forecast",
            reason=reason,
            settings=settings,
        )
        logger.info("promote: %s not promoted, champion stays %s", version, expected or "none")
        return Promotion(version, False, expected, False, "rejected")
    result = registry.promote(
        output_path,
        model_name,
        version,
        actor="sales-forecast",
        reason=reason,
        expected=expected,
        replace_damaged=replace_damaged,
        settings=settings,
    )
    if result.replaced is not None:
        logger.warning("promote: replaced a damaged champion.json (%s)", result.replaced)
    stale = not result.promoted and result.current != version
    if stale:
        logger.warning(
            "promote: champion moved to %s since this run compared against %s; re-evaluating",
            result.current,
            expected or "none",
        )
    else:
        logger.info("promote: %s is now the champion of %s", version, model_name)
    event = "promoted" if result.promoted else ("stale" if stale else "already champion")
    return Promotion(version, result.promoted or not stale, result.current, stale, event)


@task(name="stage-serving", **UNCACHED, **IO_RETRY)
def stage_serving_task(
    output_path: str,
    model_name: str,
    forecasts: pl.DataFrame,
    model_version: str,
    run_id: str,
    as_of: dt.date,
    settings: storage.StorageSettings | None = None,
) -> serving.ServingPointer:
    """Write the forecasts this run will serve as its immutable dated copy (before promotion)."""
    pointer = serving.write_dated(
        output_path,
        model_name,
        forecasts,
        model_version=model_version,
        run_id=run_id,
        as_of=as_of,
        settings=settings,
    )
    get_run_logger().info(
        "stage-serving: %d rows from %s at %s", pointer["rows"], model_version, pointer["dated_uri"]
    )
    return pointer


@task(name="serve", **UNCACHED, **IO_RETRY)
def serve_task(
    output_path: str, model_name: str, settings: storage.StorageSettings | None = None
) -> serving.ServingPointer | None:
    """Make the serving location serve the champion (its newest dated copy); the pointer,
    with ``replaced_damaged`` (the error naming it) when a damaged ``latest.json`` was replaced."""
    logger = get_run_logger()
    synced = recovery.follow_champion(output_path, model_name, settings=settings)
    pointer = synced["pointer"]
    if synced["replaced_damaged"] and pointer is not None:
        logger.warning("serve: replaced a damaged pointer: %s", synced["replaced_damaged"])
        pointer = {**pointer, "replaced_damaged": synced["replaced_damaged"]}
    elif synced["problems"] and not synced["changed"]:
        logger.warning("serve: %s", "; ".join(synced["problems"]))
    if pointer is not None:
        logger.info(
            "serve: %s serves %d rows from %s (%s)",
            pointer["latest_uri"],
            pointer["rows"],
            pointer["model_version"],
            pointer["dated_uri"],
        )
    return pointer


@task(name="recover", **UNCACHED, **IO_RETRY)
def recover_task(
    output_path: str,
    model_name: str,
    folders: list[str],
    settings: storage.StorageSettings | None = None,
) -> dict[str, Any]:
    """Repair what a killed run left: temp files of dead writers under ``folders``, and a
    serving location behind the champion pointer (``latest`` is made to serve it)."""
    logger = get_run_logger()
    removed = recovery.remove_stale_temp_files(folders)
    for path in removed:
        logger.warning("recover: removed %s, left by a writer that was killed", path)
    synced = recovery.follow_champion(output_path, model_name, settings=settings)
    if synced["changed"]:
        logger.warning(
            "recover: serving now follows champion %s (%s)",
            synced["champion"],
            "; ".join(synced["problems"]) or "latest was behind the champion pointer",
        )
    elif synced["problems"]:
        logger.warning("recover: %s", "; ".join(synced["problems"]))
    else:
        logger.info("recover: serving agrees with champion %s", synced["champion"] or "none")
    return {"removed": removed, **synced}


@task(name="champion-history", **UNCACHED, **IO_RETRY)
def history_task(
    output_path: str, model_name: str, settings: storage.StorageSettings | None = None
) -> list[dict[str, Any]]:
    """The registry's events for ``model_name``, oldest first."""
    return registry.history(output_path, model_name, settings=settings)


def marked(forecasts: pl.DataFrame, model_version: str, role: str) -> pl.DataFrame:
    """This run's forecasts with the version that made them and its role."""
    return serving.serving_frame(forecasts, model_version, role)


def serving_label(version: str, promoted: bool, served_by: str) -> str:
    """Whose forecasts the serving location holds after this run, in words."""
    if promoted:
        return f"this run's model {version} (champion)"
    if served_by == "nothing":
        return "nothing (no comparable champion yet)"
    return f"champion {served_by}"


@task(name="report", **UNCACHED)
def report_task(inputs: report.ReportInputs) -> str:
    """Render the run's self-contained HTML report."""
    html = report.render_report(inputs)
    get_run_logger().info("report: %d KiB of HTML", len(html) // 1024)
    return html


def publish_ui_artifacts(inputs: report.ReportInputs, report_uri: str) -> None:
    """Headline numbers and per-segment metrics as keyed Prefect artifacts (history in the UI)."""
    create_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=report.markdown_summary(inputs, report_uri),
        description=f"Sales forecast run {inputs.run_id}",
    )
    create_table_artifact(
        key=SEGMENTS_KEY,
        table=report.segment_table(inputs),
        description=f"Backtest metrics per segment, run {inputs.run_id}",
    )


@task(name="publish", cache_policy=NO_CACHE, **IO_RETRY)
def publish_task(
    run: publish.RunInfo,
    artifacts: publish.RunArtifacts,
    storage_settings: storage.StorageSettings | None = None,
    report_inputs: report.ReportInputs | None = None,
) -> dict[str, Any]:
    """Write the run directory (the manifest last), then the Prefect UI artifacts."""
    manifest = publish.write_run(run, artifacts, storage_settings)
    get_run_logger().info(
        "publish: wrote %d artifacts to %s", len(manifest["artifacts"]) + 1, run.run_dir
    )
    if report_inputs is not None:
        report_uri = manifest["artifacts"].get("report.html", {}).get("uri")
        publish_ui_artifacts(report_inputs, report_uri)
    return manifest
