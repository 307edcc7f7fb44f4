"""The promotion gate: does this run's model beat seasonal naive, and hold against the champion?

Reads the metrics :func:`tasks.model.backtest.backtest` produced; says why in words.
"""

from __future__ import annotations

from typing import Any


def _wape(metrics: dict[str, Any], method: str) -> float | None:
    value = metrics["backtest"][method]["wape"]
    return None if value is None else float(value)


def gate(
    metrics: dict[str, Any],
    min_improvement: float,
    champion: dict[str, Any] | None,
    max_regression: float,
) -> dict[str, Any]:
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
        return {"passed": False, "reasons": ["backtest WAPE is undefined (no actual revenue)"]}
    limit = naive * (1.0 - min_improvement)
    beats_naive = model < naive and model <= limit
    verdict = "beats" if beats_naive else "does not beat"
    first = (
        f"model WAPE {model:.4f} {verdict} seasonal naive WAPE {naive:.4f} "
        f"by the required {min_improvement:.1%} (limit {limit:.4f})"
    )
    reasons = [first]
    decision: dict[str, Any] = {"passed": beats_naive, "reasons": reasons}
    if champion is None:
        reasons.append("no champion yet: nothing to compare against")
        return decision
    rescored = _wape(champion["metrics"], "model")
    decision["champion"] = {"version": champion["version"], "wape": rescored}
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
