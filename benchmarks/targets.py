"""The issue's targets: which measured value each is judged on, at which size, pass/miss."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BIG = 100_000_000
GIB = 1024.0
NAN = float("nan")


@dataclass(frozen=True)
class Target:
    """One claim of the README: a measured value, its bound and the size it is judged at."""

    name: str
    metric: str
    bound: float
    higher_is_better: bool
    size: int | None

    def judge(self, value: float) -> bool | None:
        """True/False, or None when it was not measured."""
        if math.isnan(value):
            return None
        return value >= self.bound if self.higher_is_better else value <= self.bound


def targets(sizes: list[int]) -> list[Target]:
    """At 10M rows (or the largest size run below 100M); Prefect's at 1M (or the smallest)."""
    main = [s for s in sizes if s < BIG]
    at10 = 10_000_000 if 10_000_000 in sizes else (max(main) if main else None)
    at1 = 1_000_000 if 1_000_000 in sizes else (min(main) if main else None)
    return [
        Target("prep >= 10x faster than pandas", "pandas/ours prep time", 10.0, True, at10),
        Target("prep peak RSS <= 1/3 of pandas", "ours/pandas prep peak RSS", 1 / 3, False, at10),
        Target("end to end >= 3x faster than pandas", "pandas/ours e2e time", 3.0, True, at10),
        Target("ingest->panel within 1.5x of floor", "ours/floor ingest->panel", 1.5, False, at10),
        Target("features no slower than mlforecast", "ours/mlforecast features", 1.0, False, at10),
        Target("train within 1.1x of bare lightgbm", "ours/floor train", 1.1, False, at10),
        Target(
            "Prefect overhead < 10% of cold run", "prefect overhead / cold flow", 0.1, False, at1
        ),
        Target("fully cached re-run < 5 s flow time", "cached flow seconds", 5.0, False, at1),
        Target("100M end to end peak RSS < 24 GiB", "100M peak RSS GiB", 24.0, False, BIG),
        Target("100M time no worse than linear", "100M/10M time per row", 1.0, False, BIG),
    ]


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Judge every target on the summarized result."""
    sizes = [int(s) for s in result["sizes"]]
    out = []
    for t in targets(sizes):
        value = NAN
        if t.size is not None and str(t.size) in result["sizes"]:
            value = _value(result, t)
        out.append({**t.__dict__, "value": value, "passed": t.judge(value)})
    return out


def _ours(size: dict[str, Any]) -> dict[str, Any]:
    return dict(size["summary"].get("ours", {}))


def _value(result: dict[str, Any], t: Target) -> float:
    size = result["sizes"][str(t.size)]
    if t.metric == "cached flow seconds":
        return float(size["summary"].get("flow-cached", {}).get("median", {}).get("flow", NAN))
    if t.metric == "100M peak RSS GiB":
        ours = _ours(size)
        if ours.get("ok"):
            return float(ours["median"]["peak_mib"]) / GIB
        return math.inf if ours.get("errors") else NAN
    if t.metric == "100M/10M time per row":
        return _scaling(result)
    return float(size["ratios"].get(t.metric, NAN))


def _scaling(result: dict[str, Any]) -> float:
    """Time per raw row of ours end to end at 100M over that at 10M."""
    try:
        big, ten = result["sizes"][str(BIG)], result["sizes"]["10000000"]
        t_big = big["summary"]["ours"]["median"]["e2e"] / big["rows"]
        t_ten = ten["summary"]["ours"]["median"]["e2e"] / ten["rows"]
    except KeyError:
        return NAN
    return float(t_big / t_ten)
