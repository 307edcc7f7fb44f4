"""Plots for the run report: matplotlib ``Figure`` objects (Agg canvas, no pyplot state),
rendered to PNG bytes with no timestamp or version metadata so the same data gives the
same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tasks.report.image import METHOD_LABELS, Image

__all__ = ["METHOD_LABELS", "Image"]

DPI = 144
CSS_DPI = 96
COLORS = {
    "actual": "#1f2933",
    "model": "#2563eb",
    "seasonal_naive": "#d97706",
    "moving_average": "#7c3aed",
    "forecast": "#059669",
    "window": "#e5e7eb",
}
STYLES = {"model": "-", "seasonal_naive": "--", "moving_average": ":"}
FONT = 9


def to_image(fig: Figure) -> Image:
    """Render ``fig`` with the Agg canvas to PNG, then release it."""
    try:
        canvas = FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        width, height = (round(v) for v in canvas.get_width_height())
    finally:
        fig.clear()
    scale = CSS_DPI / fig.dpi
    return Image(png=buf.getvalue(), width=round(width * scale), height=round(height * scale))


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=FONT - 1)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _dates(frame: pl.DataFrame) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    """A frame's ``date`` column as ``datetime64[D]`` for the x axis."""
    return frame["date"].to_numpy().astype("datetime64[D]")


def _values(frame: pl.DataFrame, column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric column as floats, nulls as NaN (drawn as gaps)."""
    return frame[column].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _span(frame: pl.DataFrame) -> tuple[float, float]:
    """First and last ``date`` of a frame in Matplotlib's date units, for ``axvspan``."""
    first, last = date2num(_dates(frame)[[0, -1]])  # type: ignore[no-untyped-call]
    return float(first), float(last)


BAND = re.compile(r"^p\d+(\.\d+)?$")  # quantile columns of the forecasts (p10, p90...)


def _quantile(column: str) -> float:
    return float(column[1:])


def series_plot(
    history: pl.DataFrame,
    backtest: pl.DataFrame,
    forecasts: pl.DataFrame,
    methods: Sequence[str],
) -> Image:
    """Actual revenue (history tail), backtest windows shaded with each method's predictions,
    and the future forecast, for one series.

    ``history`` has ``date``, ``revenue``; ``backtest`` has ``date``, ``origin`` and one
    column per method; ``forecasts`` has ``date``, ``forecast`` and quantile columns
    (``p10``...), shaded as a band from the lowest to the highest. All sorted by date.
    """
    fig, ax = _figure(10.5, 2.9)
    windows = backtest.partition_by("origin", maintain_order=True) if backtest.height else []
    for i, window in enumerate(windows):
        first, last = _span(window)
        ax.axvspan(first, last, color=COLORS["window"], alpha=0.6 if i % 2 else 0.9, lw=0)
        ax.annotate(
            f"W{i + 1}",
            xy=(first, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=FONT - 1,
            color="#6b7280",
        )
    if history.height:
        ax.plot(
            _dates(history),
            _values(history, "revenue"),
            color=COLORS["actual"],
            lw=1.3,
            label="actual",
            zorder=4,
        )
    for method in methods:
        for i, window in enumerate(windows):
            ax.plot(
                _dates(window),
                _values(window, method),
                color=COLORS[method],
                ls=STYLES[method],
                lw=1.6 if method == "model" else 1.1,
                label=f"{METHOD_LABELS[method]} (backtest)" if i == 0 else None,
            )
    bands = sorted(c for c in forecasts.columns if BAND.match(c))
    if forecasts.height and len(bands) >= 2:  # the widest interval: lowest..highest quantile
        lo, hi = min(bands, key=_quantile), max(bands, key=_quantile)
        ax.fill_between(
            _dates(forecasts),
            _values(forecasts, lo),
            _values(forecasts, hi),
            color=COLORS["forecast"],
            alpha=0.22,
            lw=0,
            label=f"{lo.upper()}-{hi.upper()}",
        )
    if forecasts.height:
        ax.axvspan(*_span(forecasts), color=COLORS["forecast"], alpha=0.07, lw=0)
        ax.plot(
            _dates(forecasts),
            _values(forecasts, "forecast"),
            color=COLORS["forecast"],
            lw=1.8,
            marker="o",
            ms=2.2,
            label="forecast",
        )
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, show_offset=False)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("revenue", fontsize=FONT)
    _legend(ax, ncols=5)
    return to_image(fig)


def _legend(ax: Axes, ncols: int = 3) -> None:
    """One row of legend entries above the axes, left-aligned."""
    ax.legend(
        fontsize=FONT - 1,
        ncols=ncols,
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        frameon=False,
        borderaxespad=0.2,
    )


def segment_plot(
    rows: list[tuple[str, dict[str, float | None]]], methods: Sequence[str], wide: bool = False
) -> Image:
    """Horizontal grouped bars: WAPE per segment, one bar per method, first row on top."""
    per_row = (0.09 if wide else 0.16) * max(1, len(methods)) + 0.1
    fig, ax = _figure(10.5 if wide else 5.6, max(2.4, 0.9 + per_row * len(rows)))
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    bar = 0.8 / max(1, len(methods))
    positions = list(range(len(rows)))
    for j, method in enumerate(methods):
        values = [wapes.get(method) for _, wapes in rows]
        ax.barh(
            [p - 0.4 + bar * (j + 0.5) for p in positions],
            [float("nan") if v is None else v for v in values],
            height=bar,
            color=COLORS[method],
            alpha=1.0 if method == "model" else 0.75,
            label=METHOD_LABELS[method],
        )
    labels = [textwrap.shorten(name, 48, placeholder="…") for name, _ in rows]
    ax.set_yticks(positions, labels, fontsize=FONT - 1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("WAPE (lower is better)", fontsize=FONT)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    _legend(ax)
    return to_image(fig)


def horizon_plot(steps: list[int], wapes: dict[str, list[float | None]]) -> Image:
    """WAPE per horizon step, one line per method."""
    fig, ax = _figure(5.6, 3.0)
    for method, values in wapes.items():
        ax.plot(
            steps,
            [float("nan") if v is None else v for v in values],
            color=COLORS[method],
            ls=STYLES[method],
            marker="o",
            ms=3,
            lw=1.6 if method == "model" else 1.2,
            label=METHOD_LABELS[method],
        )
    ax.set_xlabel("horizon step (periods ahead)", fontsize=FONT)
    ax.set_ylabel("WAPE", fontsize=FONT)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_ylim(bottom=0)
    if steps:
        ax.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)
    return to_image(fig)


def importance_plot(pairs: list[tuple[str, float]]) -> Image:
    """Horizontal bars: each feature's share of the total gain, largest on top."""
    fig, ax = _figure(5.6, max(2.0, 0.9 + 0.26 * len(pairs)))
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    names = [name for name, _ in pairs]
    shares = [share for _, share in pairs]
    ax.barh(range(len(pairs)), shares, color=COLORS["model"], height=0.7)
    ax.set_yticks(range(len(pairs)), names, fontsize=FONT - 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of total gain", fontsize=FONT)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    return to_image(fig)


def realised_plot(
    origins: Sequence[dt.date],
    wape: Sequence[float | None],
    bias: Sequence[float | None],
    backtest_wape: float | None = None,
    limit: float | None = None,
) -> Image:
    """Realised WAPE and bias of the published forecasts by forecast origin, with the
    backtest WAPE (and the WAPE above which accuracy counts as degraded) as horizontal lines.
    """
    fig, ax = _figure(10.5, 2.9)
    x = np.asarray(origins, dtype="datetime64[D]")
    ax.axhline(0.0, color="#9aa5b1", lw=0.8)
    if backtest_wape is not None:
        ax.axhline(backtest_wape, color=COLORS["actual"], ls="--", lw=1.1, label="backtest WAPE")
    if limit is not None:
        ax.axhline(limit, color="#dc2626", ls=":", lw=1.1, label="degraded above")
    ax.plot(
        x,
        [float("nan") if v is None else v for v in wape],
        color=COLORS["model"],
        marker="o",
        ms=3.5,
        lw=1.6,
        label="realised WAPE",
    )
    ax.plot(
        x,
        [float("nan") if v is None else v for v in bias],
        color=COLORS["seasonal_naive"],
        ls="--",
        marker="s",
        ms=3,
        lw=1.1,
        label="realised bias",
    )
    if x.size and x.min() == x.max():  # one origin: give the point some room
        ax.set_xlim(x.min() - np.timedelta64(7, "D"), x.max() + np.timedelta64(7, "D"))
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, show_offset=False)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("forecast origin (first forecast date of the run)", fontsize=FONT)
    _legend(ax, ncols=4)
    return to_image(fig)
