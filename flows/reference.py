"""The gate's tolerance reference: the best of the recent champions, re-scored.

``evaluation.max_regression`` is measured from the lowest WAPE among the last
``evaluation.tolerance_reference_champions`` champions (the current one included), each
re-trained with the config it was registered with and scored on this run's backtest
windows. Champions with the same feature spec and training parameters are scored once.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from flows import config as conf
from flows import plan as mapping
from flows.steps import Steps
from tasks import release, storage
from tasks.stages import evaluate_task

evaluate_former_task = evaluate_task.with_options(name="evaluate-former-champions")


def best_recent_champion(
    steps: Steps,
    cfg: conf.AppConfig,
    panel: pl.DataFrame,
    champion: release.ChampionModel,
    champion_cfg: conf.AppConfig,
    champion_metrics: dict[str, Any],
) -> dict[str, Any] | None:
    """``{"version", "metrics", "considered"}`` of the best recent champion, the current
    one included; None when no former champion can be compared with this run."""
    count = cfg.evaluation.tolerance_reference_champions
    store = storage.StorageSettings.from_config(cfg.storage)
    former = steps.run(
        release.former_champions_task,
        cfg.data.output_path,
        cfg.model.model_name,
        count,
        champion.version,
        store,
    )
    key = repr((mapping.feature_spec(champion_cfg), mapping.train_params(champion_cfg)))
    scored: dict[str, dict[str, Any]] = {key: champion_metrics}
    candidates = [(champion.version, champion_metrics)]
    for other in former:
        other_cfg, problem, dropped = conf.load_comparable(
            cfg,
            other.config_yaml,
            other.uri,
            f"former champion {other.version}",
            other.config_schema_version,
        )
        release.report_set_aside(other.version, dropped)
        if other_cfg is None or problem is not None:
            continue  # another data set, frequency or series keys: not a reference
        key = repr((mapping.feature_spec(other_cfg), mapping.train_params(other_cfg)))
        if key not in scored:
            scored[key] = steps.run(
                evaluate_former_task,
                panel=panel,
                spec=mapping.feature_spec(other_cfg),
                params=mapping.backtest_params(cfg),
                train=mapping.train_params(other_cfg),
            ).metrics
        candidates.append((other.version, scored[key]))
    if len(candidates) == 1:
        return None

    def wape(metrics: dict[str, Any]) -> float:
        value = metrics["backtest"]["model"]["wape"]
        return float("inf") if value is None else float(value)

    version, metrics = min(candidates, key=lambda c: wape(c[1]))
    return {"version": version, "metrics": metrics, "considered": [v for v, _ in candidates]}
