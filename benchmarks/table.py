"""The printed tables (plain text, fixed width)."""

from __future__ import annotations

import math
from typing import Any

PIPELINE_COLS = (
    ("ingest->panel s", "ingest_to_panel"),
    ("features s", "features"),
    ("prep s", "prep"),
    ("train s", "train"),
    ("forecast s", "forecast"),
    ("e2e s", "e2e"),
    ("prep peak MiB", "prep_peak_mib"),
    ("peak MiB", "peak_mib"),
)
FLOW_COLS = (
    ("import s", "import"),
    ("server start s", "server_startup"),
    ("flow s", "flow"),
    ("pipeline steps s", "pipeline_steps"),
    ("same, direct s", "direct"),
    ("overhead s", "overhead"),
    ("other steps s", "other_steps"),
    ("outside steps s", "outside_steps"),
    ("steps", "steps"),
    ("cached", "cached_steps"),
    ("peak MiB", "peak_mib"),
    ("tree peak MiB", "tree_peak_mib"),
)
OVERHEAD_STEPS = ("ingest", "clean", "aggregate", "features", "train", "evaluate", "forecast")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "PASS" if value else "MISS"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def grid(header: list[str], rows: list[list[Any]]) -> str:
    """Rows under a header, columns padded to their widest cell."""
    cells = [header, *[[_fmt(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _case_rows(
    summary: dict[str, Any], labels: tuple[str, ...], cols: tuple[tuple[str, str], ...]
) -> list[list[Any]]:
    rows = []
    for label in labels:
        entry = summary.get(label)
        if entry is None:
            continue
        med = entry.get("median")
        if med is None:
            rows.append([f"{label} (failed)", *["-"] * len(cols)])
            continue
        rows.append([f"{label} x{entry['ok']}", *[med.get(key) for _, key in cols]])
    return rows


def overhead_line(summary: dict[str, Any]) -> str:
    """Flow step minus direct stage, per pipeline step (cold run medians)."""
    med = summary.get("flow-cold", {}).get("median", {})
    parts = [f"{k} {_fmt(med.get(f'overhead_{k}'))}" for k in OVERHEAD_STEPS]
    return "cold run, flow step - direct stage, s: " + ", ".join(parts)


def memory_line(block: dict[str, Any]) -> str:
    """Peak RSS growth over the import baseline per raw row, next to the raw rows' size."""
    rows = max(int(block["rows"]), 1)
    growth = {
        label: (med["peak_mib"] - med["baseline_mib"]) * 2**20 / rows
        for label in ("ours", "pandas")
        if (med := block["summary"].get(label, {}).get("median"))
    }
    raw = float(block.get("raw_in_memory_mib", math.nan)) * 2**20 / rows
    shown = ", ".join(f"{k} {_fmt(v)}" for k, v in growth.items())
    return f"peak RSS growth, bytes per raw row: {shown or '-'}; the raw rows as Arrow: {_fmt(raw)}"


def size_tables(size: str, block: dict[str, Any]) -> str:
    """Cases, flow runs and ratios of one size."""
    summary = block["summary"]
    parts = [f"== {int(size):,} requested rows ({block['rows']:,} raw rows, medians) =="]
    rows = _case_rows(summary, ("ours", "pandas", "floor", "mlforecast"), PIPELINE_COLS)
    if rows:
        parts.append(grid(["case", *[h for h, _ in PIPELINE_COLS]], rows))
    flow = _case_rows(summary, ("flow-cold", "flow-cached"), FLOW_COLS)
    if flow:
        parts.append(grid(["flow", *[h for h, _ in FLOW_COLS]], flow))
        parts.append(overhead_line(summary))
    ratio_rows = [[k, v] for k, v in block["ratios"].items() if not math.isnan(v)]
    if ratio_rows:
        parts.append(grid(["ratio (median of interleaved rounds)", "value"], ratio_rows))
    parts.append(memory_line(block))
    skipped = block.get("skipped", {})
    if skipped:
        parts.append("skipped: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    return "\n\n".join(parts)


def targets_table(rows: list[dict[str, Any]]) -> str:
    """Each target: where it is judged, bound, value, pass/miss."""
    body = [
        [
            t["name"],
            "-" if t["size"] is None else f"{t['size']:,}",
            ("<= " if not t["higher_is_better"] else ">= ") + f"{t['bound']:.3g}",
            t["value"],
            "not run" if t["passed"] is None else t["passed"],
        ]
        for t in rows
    ]
    return grid(["target", "rows", "bound", "measured", "result"], body)


def render(result: dict[str, Any]) -> str:
    """The whole report."""
    m = result["machine"]
    head = (
        f"benchmarks: {m['nproc']} cores, {m['memory_gib']:.1f} GiB, python {m['python']}, "
        f"polars {result['packages'].get('polars')}, pandas {result['packages'].get('pandas')}, "
        f"lightgbm {result['packages'].get('lightgbm')}, "
        f"mlforecast {result['packages'].get('mlforecast')}; "
        f"repeats {result['settings']['repeats']}"
    )
    eq = result.get("equivalence", {})
    eq_line = (
        f"equivalence (pandas vs ours, floor vs ours): {'PASS' if eq.get('passed') else 'FAIL'}"
    )
    if eq.get("size"):
        eq_line += f" on {eq['size']:,} rows"
    parts = [head, eq_line]
    parts += [size_tables(s, b) for s, b in result["sizes"].items()]
    parts.append(targets_table(result["targets"]))
    return "\n\n".join(parts)
