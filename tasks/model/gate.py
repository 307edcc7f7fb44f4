"""The promotion gate: does this run's model beat the best baseline of the run (naive,
seasonal naive, moving average and any statistical candidate), and hold against the champion?

Reads the metrics :func:`tasks.model.backtest.backtest` produced; says why in words and
names the baseline it compared with.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from tasks.model.candidates import BASELINES, STATISTICAL

ANCHORS = (*BASELINES, *STATISTICAL)  # what a forecaster would use instead of the model


class BaselineScore(TypedDict):
    """The best baseline of the run: the one the model had to beat, and its WAPE."""

    name: str
    wape: float


class ChampionScore(TypedDict):
    """The champion a decision compared with, and its WAPE re-scored on this run's windows."""

    version: str | None
    wape: float | None


class UnusableChampion(TypedDict):
    """A champion whose files are damaged: judged as none (the gate does not fail on it)."""

    version: str | None
    problem: str


class GateDecision(TypedDict):
    """The promotion decision as ``metrics.json``'s ``gate`` holds it."""

    passed: bool
    reasons: list[str]
    baseline: NotRequired[BaselineScore]  # absent when no baseline has a WAPE
    champion: NotRequired[ChampionScore]  # absent when no champion was compared
    champion_unusable: NotRequired[UnusableChampion]
    reference: NotRequired[ReferenceScore]  # the best recent champion, when not the current


class ReferenceScore(TypedDict):
    """The best of the recent champions re-scored on this run's windows, and those compared."""

    version: str
    wape: float
    considered: list[str]


class ChampionMetrics(TypedDict):
    """The gate's champion input: its version and metrics re-scored on this run's windows."""

    version: str
    metrics: dict[str, Any]


def best_baseline(metrics: dict[str, Any]) -> tuple[str, float] | None:
    """The baseline or statistical candidate with the lowest backtest WAPE, and that WAPE."""
    scores = metrics["backtest"]
    found = [
        (name, float(scores[name]["wape"]))
        for name in ANCHORS
        if name in scores and scores[name].get("wape") is not None
    ]
    return min(found, key=lambda p: p[1]) if found else None


def _wape(metrics: dict[str, Any], method: str) -> float | None:
    value = metrics["backtest"][method]["wape"]
    return None if value is None else float(value)


def gate(
    metrics: dict[str, Any],
    min_improvement: float,
    champion: ChampionMetrics | None,
    max_regression: float,
    reference: dict[str, Any] | None = None,
) -> GateDecision:
    """The promotion decision, with its reasons in words.

    Passes when the model's backtest WAPE beats the best baseline by ``min_improvement``
    (a fraction) and, if there is a champion, is not worse than the champion's WAPE
    re-scored on the same windows by more than ``max_regression`` (a fraction).

    Parameters
    ----------
    champion
        ``{"version": str, "metrics": <metrics of the champion re-scored on this run's
        backtest windows>}``, or ``None`` when no model is serving yet.
    reference
        The best of the recent champions re-scored on the same windows, in the same form
        plus ``"considered"`` (the versions compared). When its WAPE is lower than the
        current champion's, the regression is measured from it instead, so that small
        regressions, each within ``max_regression`` of the one before, cannot add up.
    """
    model, best = _wape(metrics, "model"), best_baseline(metrics)
    if model is None or best is None:
        return GateDecision(
            passed=False, reasons=["backtest WAPE is undefined (no actual revenue)"]
        )
    baseline, naive = best
    limit = naive * (1.0 - min_improvement)
    # a negative min_improvement lets the model be that much worse than the baseline
    beats_naive = model <= limit and (model < naive or min_improvement < 0)
    verdict = "beats" if beats_naive else "does not beat"
    first = (
        f"model WAPE {model:.4f} {verdict} the best baseline, {baseline.replace('_', ' ')} "
        f"(WAPE {naive:.4f}), by the required {min_improvement:.1%} (limit {limit:.4f})"
    )
    reasons = [first]
    decision = GateDecision(
        passed=beats_naive, reasons=reasons, baseline=BaselineScore(name=baseline, wape=naive)
    )
    if champion is None:
        reasons.append("no champion yet: nothing to compare against")
        return decision
    rescored = _wape(champion["metrics"], "model")
    decision["champion"] = ChampionScore(version=champion["version"], wape=rescored)
    if rescored is None:
        reasons.append(f"champion {champion['version']} could not be re-scored; not compared")
        return decision
    base, base_name = rescored, f"champion {champion['version']}"
    ref_wape = None if reference is None else _wape(reference["metrics"], "model")
    if reference is not None and ref_wape is not None and ref_wape < rescored:
        base, base_name = (
            ref_wape,
            (
                f"the best of the last {len(reference['considered'])} champions, "
                f"{reference['version']} (current champion {champion['version']}: {rescored:.4f})"
            ),
        )
        decision["reference"] = ReferenceScore(
            version=str(reference["version"]),
            wape=ref_wape,
            considered=[str(v) for v in reference["considered"]],
        )
    ceiling = base * (1.0 + max_regression)
    holds = model <= ceiling
    reasons.append(
        f"model WAPE {model:.4f} is {'within' if holds else 'worse than'} the allowed "
        f"{max_regression:.1%} regression from {base_name} re-scored on "
        f"the same windows (WAPE {base:.4f}, ceiling {ceiling:.4f})"
    )
    decision["passed"] = beats_naive and holds
    return decision
