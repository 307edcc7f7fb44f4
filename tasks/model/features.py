"""Features: lags, rolling windows, calendar and categoricals, computed per series.

Every target-derived column at period *t* uses targets at *t-1* and earlier only: lags
shift by at least one period and windows roll over the series shifted by one. That is
what lets the same function build training rows and, step by step, forecast rows.

With ``normalize`` (the default) each row also gets a ``scale``: the mean target over the
longest window before it (null while a series has no history or only zeros). The model
then learns in units of each series' own recent level (lags, windows and the target
divided by it), so one model serves large and small series alike and a trend does not
push values outside what the trees have seen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import holidays
import polars as pl

TARGET = "revenue"
SCALE = "scale"
SCALED_PREFIXES = ("lag_", "roll_")

DEFAULT_LAGS = {"1d": [1, 7, 14, 28], "1w": [1, 2, 4, 52], "1mo": [1, 2, 3, 12]}
DEFAULT_WINDOWS = {"1d": [7, 28], "1w": [4, 13], "1mo": [3, 12]}
DEFAULT_SEASON = {"1d": 7, "1w": 52, "1mo": 12}
DEFAULT_HORIZON = {"1d": 28, "1w": 13, "1mo": 6}
CALENDAR_COLUMNS = {
    "1d": ["day_of_week", "day_of_month", "week_of_year", "month", "is_holiday"],
    "1w": ["week_of_year", "month", "holidays_in_period"],
    "1mo": ["month", "holidays_in_period"],
}


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides the feature columns; resolved from config per frequency."""

    frequency: str
    series_keys: list[str]
    lags: list[int]
    window_sizes: list[int]
    categorical_columns: list[str]
    calendar: bool
    holiday_country: str | None
    use_promo: bool
    normalize: bool

    def __post_init__(self) -> None:
        bad = [v for v in [*self.lags, *self.window_sizes] if v < 1]
        if bad:
            raise ValueError(f"features.lags / features.window_sizes must be >= 1, got {bad}")

    @property
    def lookback(self) -> int:
        """Periods of history one forecast row needs."""
        return max([*self.lags, *self.window_sizes, 1])

    @property
    def scale_window(self) -> int:
        """Periods averaged for a row's scale: the longest rolling window."""
        return max([*self.window_sizes, 1])

    @property
    def feature_names(self) -> list[str]:
        """Model input columns, in a fixed order."""
        names = [f"lag_{k}" for k in self.lags]
        names += [f"roll_{stat}_{w}" for w in self.window_sizes for stat in ("mean", "std")]
        if self.calendar:
            names += [
                c
                for c in CALENDAR_COLUMNS[self.frequency]
                if self.holiday_country or "holiday" not in c
            ]
        if self.use_promo:
            names.append("promo")
        return names + list(self.categorical_columns)


def resolve_spec(
    frequency: str,
    series_keys: list[str],
    lags: list[int] | None,
    window_sizes: list[int] | None,
    categorical_columns: list[str],
    calendar: bool,
    holiday_country: str | None,
    use_promo: bool,
    normalize: bool,
) -> FeatureSpec:
    """A spec with per-frequency defaults for the values left unset (``None``)."""
    return FeatureSpec(
        frequency=frequency,
        series_keys=list(series_keys),
        lags=sorted(set(lags if lags is not None else DEFAULT_LAGS[frequency])),
        window_sizes=sorted(
            set(window_sizes if window_sizes is not None else DEFAULT_WINDOWS[frequency])
        ),
        categorical_columns=list(categorical_columns),
        calendar=calendar,
        holiday_country=holiday_country or None,
        use_promo=use_promo,
        normalize=normalize,
    )


@cache
def _holiday_dates(country: str, first_year: int, last_year: int) -> tuple[dt.date, ...]:
    days = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    return tuple(sorted(days.keys()))


def holiday_table(country: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """Public holidays of ``country`` (the ``holidays`` package) between two dates."""
    dates = [d for d in _holiday_dates(country, first.year, last.year) if first <= d <= last]
    return pl.DataFrame({"holiday": dates}, schema={"holiday": pl.Date})


def _target_features(spec: FeatureSpec) -> list[pl.Expr]:
    keys = spec.series_keys
    y = pl.col(TARGET).cast(pl.Float64)
    exprs = [y.shift(k).over(keys).alias(f"lag_{k}") for k in spec.lags]
    for w in spec.window_sizes:
        past = y.shift(1)
        exprs.append(past.rolling_mean(w, min_samples=1).over(keys).alias(f"roll_mean_{w}"))
        exprs.append(past.rolling_std(w, min_samples=2).over(keys).alias(f"roll_std_{w}"))
    if spec.normalize:
        level = y.shift(1).rolling_mean(spec.scale_window, min_samples=1).over(keys)
        exprs.append(pl.when(level > 0).then(level).alias(SCALE))
    return exprs


def _date_span(frame: pl.DataFrame) -> tuple[dt.date, dt.date]:
    first, last = frame["date"].min(), frame["date"].max()
    if not isinstance(first, dt.date) or not isinstance(last, dt.date):
        raise TypeError(f"features: 'date' must be a date column, got {frame.schema['date']}")
    return first, last


def _holiday_counts(frame: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    assert spec.holiday_country is not None
    first, last = _date_span(frame)
    table = holiday_table(spec.holiday_country, first, last + dt.timedelta(days=31))
    counts = table.group_by(pl.col("holiday").dt.truncate(spec.frequency).alias("date")).len()
    return frame.join(counts, on="date", how="left").with_columns(
        pl.col("len").fill_null(0).cast(pl.Int32).alias("holidays_in_period")
    )


def calendar_features(frame: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Calendar columns for the frame's ``date`` (period start) at the spec's frequency."""
    d = pl.col("date")
    available = {
        "day_of_week": d.dt.weekday().cast(pl.Int32),
        "day_of_month": d.dt.day().cast(pl.Int32),
        "week_of_year": d.dt.week().cast(pl.Int32),
        "month": d.dt.month().cast(pl.Int32),
    }
    wanted = CALENDAR_COLUMNS[spec.frequency]
    out = frame.with_columns([expr.alias(n) for n, expr in available.items() if n in wanted])
    if not spec.holiday_country or frame.height == 0:
        return out
    if "is_holiday" in wanted:
        first, last = _date_span(frame)
        days = holiday_table(spec.holiday_country, first, last)["holiday"]
        return out.with_columns(d.is_in(days.implode()).cast(pl.Int32).alias("is_holiday"))
    return _holiday_counts(out, spec).drop("len")


def build_features(panel: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Feature frame: keys, date, target and every column of ``spec.feature_names``.

    Rows keep a null target where the panel has one (future rows while forecasting).
    """
    keys = spec.series_keys
    frame = panel.sort([*keys, "date"]).with_columns(_target_features(spec))
    if spec.calendar:
        frame = calendar_features(frame, spec)
    if spec.use_promo:
        frame = frame.with_columns(pl.col("promo").cast(pl.Float64).fill_null(0.0))
    cats = [c for c in spec.categorical_columns if c not in frame.columns]
    if cats:
        raise ValueError(
            f"features.categorical_columns names {cats}, which the panel does not have "
            f"(columns: {frame.columns})"
        )
    extra = [SCALE] if spec.normalize else []
    names = [c for c in spec.feature_names if c not in keys]
    return frame.select([*keys, "date", TARGET, *names, *extra])
