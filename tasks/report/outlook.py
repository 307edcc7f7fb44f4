"""What will we sell: the coming horizon's forecast by segment and in total, against the
forecast served before this run.

Pure: frames in, rows and HTML/Markdown out. The range columns (P10, P90) appear only
when the forecast frame has quantile columns ``p10`` and ``p90``. Sums of per-series
quantiles are not quantiles of the sum: the range shown is the sum of the series' P10s and
P90s, wider than the total's own range unless the series move together.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tasks.report.format import md, note, num, pct, table

QUANTILES = ("p10", "p90")
TOTAL = "total"


def has_range(forecasts: pl.DataFrame) -> bool:
    """True when the forecasts carry both ``p10`` and ``p90`` columns."""
    return all(q in forecasts.columns for q in QUANTILES)


def outlook_rows(
    forecasts: pl.DataFrame,
    series_keys: list[str],
    segment_by: str,
    last_served: pl.DataFrame | None,
) -> list[dict[str, Any]]:
    """One row per segment (sorted), then the total: dates covered, the forecast sum, P10
    and P90 sums when present, and the change against the last served forecast.

    The change compares the two forecasts on the series and dates they share (the served
    one was made earlier, so only part of the horizons overlap): ``served`` and
    ``change`` are ``None`` where nothing overlaps or nothing was served.
    """
    keys = list(series_keys)
    sums = [pl.col("forecast").sum()]
    sums += [pl.col(q).sum() for q in QUANTILES if has_range(forecasts)]
    span = [pl.col("date").min().alias("first"), pl.col("date").max().alias("last")]
    frame = forecasts.with_columns(pl.lit(TOTAL).alias("_all"))
    overlap = _overlap(forecasts, last_served, keys)
    rows = []
    for by in (segment_by, "_all"):
        own = frame.group_by(by).agg(*span, *sums).sort(by)
        if overlap is not None:
            shared = (
                overlap.with_columns(pl.lit(TOTAL).alias("_all"))
                .group_by(by)
                .agg(
                    pl.col("forecast").sum().alias("now_on_shared"),
                    pl.col("served").sum(),
                    pl.len().alias("shared_rows"),
                )
            )
            own = own.join(shared, on=by, how="left")
        for row in own.iter_rows(named=True):
            served, now = row.get("served"), row.get("now_on_shared")
            change = (now / served - 1.0) if served and now is not None else None
            rows.append(
                {
                    "segment": str(row[by]),
                    "first": row["first"],
                    "last": row["last"],
                    "forecast": row["forecast"],
                    **{q: row[q] for q in QUANTILES if q in row},
                    "served": served,
                    "change": change,
                }
            )
    return rows


def _overlap(
    forecasts: pl.DataFrame, last_served: pl.DataFrame | None, keys: list[str]
) -> pl.DataFrame | None:
    """This run's forecast beside the served one, on the series and dates both have."""
    if last_served is None or not {*keys, "date", "forecast"} <= set(last_served.columns):
        return None
    served = last_served.select(
        *[pl.col(k).cast(pl.String) for k in keys],
        pl.col("date").cast(forecasts.schema["date"]),
        pl.col("forecast").cast(pl.Float64).alias("served"),
    )
    joined = forecasts.select(*keys, "date", "forecast").join(served, on=[*keys, "date"])
    return joined if joined.height else None


def _cells(row: dict[str, Any], ranged: bool) -> list[object]:
    cells: list[object] = [row["segment"], f"{row['first']} – {row['last']}", num(row["forecast"])]
    if ranged:
        cells += [num(row.get("p10")), num(row.get("p90"))]
    return [*cells, num(row["served"]), pct(row["change"], signed=True)]


def _headers(ranged: bool, segment_by: str) -> list[str]:
    head = [segment_by, "dates", "forecast revenue"]
    head += ["P10 (sum)", "P90 (sum)"] if ranged else []
    return [*head, "last served, same days", "change"]


def outlook_html(
    forecasts: pl.DataFrame,
    series_keys: list[str],
    segment_by: str,
    last_served: pl.DataFrame | None,
) -> str:
    """The section body: the table and what its columns mean."""
    rows = outlook_rows(forecasts, series_keys, segment_by, last_served)
    ranged = has_range(forecasts)
    classes = ["total" if r["segment"] == TOTAL else "" for r in rows]
    body = table(
        _headers(ranged, segment_by),
        [_cells(r, ranged) for r in rows],
        numeric_from=2,
        row_class=classes,
    )
    ranged_note = (
        "P10–P90: the sums of the series' 10th and 90th percentiles (wider than the "
        "total's own range unless the series move together)."
        if ranged
        else "No P10–P90 range: this model's forecasts have no quantile columns yet."
    )
    change_note = (
        "Change: this forecast against the forecast served before this run, on the series "
        "and days both cover."
        if any(r["served"] is not None for r in rows)
        else "No change column: no served forecast covers these days yet."
    )
    notes = [
        (
            f"Revenue forecast for every period of the coming horizon, summed per {segment_by} "
            "and in total."
        ),
        ranged_note,
        change_note,
    ]
    return body + "".join(note(n) for n in notes)


def outlook_markdown(
    forecasts: pl.DataFrame,
    series_keys: list[str],
    segment_by: str,
    last_served: pl.DataFrame | None,
) -> list[str]:
    """The same table as Markdown lines (for the Prefect summary artifact)."""
    rows = outlook_rows(forecasts, series_keys, segment_by, last_served)
    ranged = has_range(forecasts)
    head = _headers(ranged, segment_by)
    lines = ["| " + " | ".join(md(h) for h in head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    lines += ["| " + " | ".join(md(c) for c in _cells(r, ranged)) + " |" for r in rows]
    return lines
