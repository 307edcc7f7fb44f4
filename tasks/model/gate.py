"""The promotion gate: does this run's model beat seasonal naive, and hold against the champion?

Reads the metrics :func:`tasks.model.backtest.backtest` produced; says why in words.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


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
    champion: NotRequired[ChampionScore]  # absent when no champion was compared
    champion_unusable: NotRequired[UnusableChampion]


class ChampionMetrics(TypedDict):
    """The gate's champion input: its version and metrics re-scored on this run's windows."""

    version: str
    metrics: dict[str, Any]


def _wape(metrics: dict[str, Any], method: str) -> float | None:
    value = metrics["backtest"][method]["wape"]
    return None if value is None else float(value)


def gate(
    metrics: dict[str, Any],
    min_improvement: float,
    champion: ChampionMetrics | None,
    max_regression: float,
) -> GateDecision:
    """The promotion decision, with its reasons in words.

    Passes when the model's backtest WAPE beats seasonal naive by ``min_improvement``
    (a fraction) and, if there is a champion, is not worse than the champion's WAPE
    re-scored on the same windows by more than ``max_regression`` (a fraction).

    Parameters
    ----------
    champion
        ``{"version": str, "metrics": <metrics of the champion re-scored on this run's
        backtest windows>}``, or ``None`` when no model is serving yet.
    """
    model, naive = _wape(metrics, "model"), _wape(metrics, "seasonal_naive")
    if model is None or naive is None:
        return GateDecision(
            passed=False, reasons=["backtest WAPE is undefined (no actual revenue)"]
        )
    limit = naive * (1.0 - min_improvement)
    beats_naive = model < naive and model <= limit
    verdict = "beats" if beats_naive else "does not beat"
    first = (
        f"model WAPE {model:.4f} {verdict} seasonal naive WAPE {naive:.4f} "
        f"by the required {min_improvement:.1%} (limit {limit:.4f})"
    )
    reasons = [first]
    decision = GateDecision(passed=beats_naive, reasons=reasons)
    if champion is None:
        reasons.append("no champion yet: nothing to compare against")
        return decision
    rescored = _wape(champion["metrics"], "model")
    decision["champion"] = ChampionScore(version=champion["version"], wape=rescored)
    if rescored is None:
        reasons.append(f"champion {champion['version']} could not be re-scored; not compared")
        return decision
    ceiling = rescored * (1.0 + max_regression)
    holds = model <= ceiling
    reasons.append(
        f"model WAPE {model:.4f} is {'within' if holds else 'worse than'} the allowed "
        f"{max_regression:.1%} regression from champion {champion['version']} re-scored on "
        f"the same windows (WAPE {rescored:.4f}, ceiling {ceiling:.4f})"
    )
    decision["passed"] = beats_naive and holds
    return decision
