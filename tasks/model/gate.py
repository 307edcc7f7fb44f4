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
    reference: dict[str, Any] | None = None,
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
    reference
        The best of the recent champions re-scored on the same windows, in the same form
        plus ``"considered"`` (the versions compared). When its WAPE is lower than the
        current champion's, the regression is measured from it instead, so that small
        regressions, each within ``max_regression`` of the one before, cannot add up.
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
    base, base_name = rescored, f"champion {champion['version']}"
    best = None if reference is None else _wape(reference["metrics"], "model")
    if reference is not None and best is not None and best < rescored:
        base, base_name = (
            best,
            (
                f"the best of the last {len(reference['considered'])} champions, "
                f"{reference['version']} (current champion {champion['version']}: {rescored:.4f})"
            ),
        )
        decision["reference"] = {
            "version": reference["version"],
            "wape": best,
            "considered": list(reference["considered"]),
        }
    ceiling = base * (1.0 + max_regression)
    holds = model <= ceiling
    reasons.append(
        f"model WAPE {model:.4f} is {'within' if holds else 'worse than'} the allowed "
        f"{max_regression:.1%} regression from {base_name} re-scored on "
        f"the same windows (WAPE {base:.4f}, ceiling {ceiling:.4f})"
    )
    decision["passed"] = beats_naive and holds
    return decision
