"""The benchmark's markdown tables."""

from __future__ import annotations

from typing import Any

COLUMNS = ("wape", "mae", "rmse", "bias", "coverage", "pinball", "seconds_per_window")


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key in ("mae", "rmse"):
        return f"{value:,.4g}"
    if key == "seconds_per_window":
        return f"{value:.1f}"
    if key == "coverage":
        return f"{value:.1%}"
    return f"{value:.4f}"


def dataset_table(name: str, result: dict[str, Any]) -> str:
    """One data set: a row per method, the best anchor and the winner marked."""
    best = result["best_anchor"]
    title = (
        f"### {name} ({result['series']} series, {result['frequency']}, h={result['horizon']}, "
        f"scored windows from {result['origins'][0]})"
    )
    lines = [
        title,
        "",
        "| method | WAPE | MAE | RMSE | bias | 80% coverage | pinball | s/window | interval |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, m in result["methods"].items():
        label = f"**{method}**" if method == best else method
        cells = [_fmt(k, m.get(k)) for k in COLUMNS]
        lines.append(f"| {label} | {' | '.join(cells)} | {m.get('interval', '')} |")
    return "\n".join(lines)


def headline(results: dict[str, Any], methods: list[str]) -> str:
    """WAPE per data set (rows) and method (columns), best anchor in bold."""
    head = "| data set | " + " | ".join(methods) + " |"
    lines = [head, "|---" * (len(methods) + 1) + "|"]
    for name, r in results.items():
        cells = []
        for m in methods:
            score = r["methods"].get(m, {}).get("wape")
            text = "–" if score is None else f"{score:.4f}"
            cells.append(f"**{text}**" if m == r["best_anchor"] else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
