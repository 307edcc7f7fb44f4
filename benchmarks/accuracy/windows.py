"""Rolling-origin windows: the same origins, history and future rows for every method.

A panel's periods are its sorted distinct dates. With ``windows`` windows of ``horizon``
periods, window k (0 = oldest) starts at period ``n - (windows - k) * horizon``; the last
window ends at the panel's last period. A window's history is every row dated before its
origin, its future the ``horizon`` periods from the origin on: training data of a window
always ends before its first forecast date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Window:
    """One backtest window: its index, origin (first forecast period) and periods."""

    index: int
    origin: dt.date
    dates: tuple[dt.date, ...]


def make_windows(panel: pl.DataFrame, horizon: int, windows: int, min_history: int) -> list[Window]:
    """The ``windows`` consecutive windows of ``horizon`` periods ending at the last period."""
    dates = panel["date"].unique().sort().to_list()
    needed = horizon * windows + min_history
    if windows < 1 or horizon < 1 or len(dates) < needed:
        raise ValueError(
            f"{windows} window(s) of {horizon} periods plus {min_history} periods of history "
            f"need {needed} periods; the panel has {len(dates)}"
        )
    out = []
    for k in range(windows):
        start = len(dates) - (windows - k) * horizon
        out.append(Window(k, dates[start], tuple(dates[start : start + horizon])))
    return out


def split(panel: pl.DataFrame, window: Window) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(history, future) of a window; future rows carry ``step`` (1..horizon) and actual ``y``.

    Only series with history before the origin are in the future frame.
    """
    history = panel.filter(pl.col("date") < window.origin)
    steps = pl.DataFrame(
        {"date": list(window.dates), "step": list(range(1, len(window.dates) + 1))},
        schema={"date": pl.Date, "step": pl.Int32},
    )
    future = panel.join(steps, on="date", how="inner").join(
        history.select("unique_id").unique(), on="unique_id", how="semi"
    )
    return history, future.sort("unique_id", "date")
