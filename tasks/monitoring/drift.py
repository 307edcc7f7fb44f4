"""Drift: population stability index (PSI) of features and target against a saved profile.

A training run saves a small *profile* of its training frame (:func:`build_profile`): per
column, numeric bin edges (quantiles of the reference) and the share of rows in each bin
plus a null bucket, or category shares; overall and per segment. A later run needs only
the champion's profile, not its data, to score its own recent rows (:func:`psi_against`).

``PSI = Σ (actual − expected) · ln(actual / expected)`` over the bins, each share floored
at ``epsilon`` so an empty bin counts without dividing by zero. Conventional reading:
below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a major shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np
import polars as pl

from tasks.model.features import SCALE, SCALED_PREFIXES, TARGET

PROFILE_VERSION = 1
NULL_BUCKET = "__null__"
OTHER_BUCKET = "__other__"
DEFAULT_WINDOW = {"1d": 56, "1w": 13, "1mo": 6}
LEVELS = ("ok", "warn", "alert")
PROFILE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "target": str,
    "columns": list,
    "segment_by": list,
    "overall": dict,
    "segments": dict,
}


@dataclass(frozen=True)
class DriftParams:
    """PSI above ``warn`` / ``alert``; fewer than ``min_rows`` current rows: not judged."""

    warn: float
    alert: float
    epsilon: float
    min_rows: int
    alert_on_segments: bool


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=np.float64), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), epsilon, None)
    if e.shape != a.shape:
        raise ValueError(f"psi: {e.size} expected shares but {a.size} actual shares")
    return float(np.sum((a - e) * np.log(a / e)))


def is_numeric(dtype: pl.DataType) -> bool:
    """Numeric and boolean columns are binned; everything else is categorical."""
    return dtype.is_numeric() or dtype == pl.Boolean


def _values(series: pl.Series) -> np.ndarray:
    """Float values with nulls and non-finite values as NaN."""
    arr = series.cast(pl.Float64).to_numpy().astype(np.float64, copy=True)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def numeric_edges(series: pl.Series, bins: int) -> list[float]:
    """Inner cut points: distinct quantiles ``1/bins .. (bins-1)/bins`` of the known values."""
    arr = _values(series)
    known = arr[~np.isnan(arr)]
    if known.size == 0 or bins < 2:
        return []
    cuts = np.quantile(known, np.arange(1, bins) / bins)
    return [float(c) for c in np.unique(cuts)]


def numeric_shares(series: pl.Series, edges: Sequence[float]) -> tuple[list[float], float]:
    """Shares of known values in ``(-inf, e1], (e1, e2], ..., (ek, inf)``, and the null share."""
    arr = _values(series)
    null = np.isnan(arr)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), arr[~null], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    known = max(int(counts.sum()), 1)
    return [int(c) / known for c in counts], float(null.mean()) if arr.size else 0.0


def categorical_shares(series: pl.Series, max_categories: int = 50) -> dict[str, float]:
    """Share of each category (the most frequent ``max_categories``, the rest as other)."""
    total = max(series.len(), 1)
    text = series.cast(pl.String).fill_null(NULL_BUCKET)
    counts = text.value_counts(sort=True, name="n").sort(["n", text.name], descending=[True, False])
    shares = {str(v): n / total for v, n in counts.head(max_categories).iter_rows()}
    rest = int(counts.tail(max(counts.height - max_categories, 0))["n"].sum())
    return {**shares, OTHER_BUCKET: rest / total} if rest else shares


def column_profile(series: pl.Series, bins: int, max_categories: int = 50) -> dict[str, Any]:
    """Reference summary of one column: ``numeric`` edges and shares, or category shares."""
    if is_numeric(series.dtype):
        edges = numeric_edges(series, bins)
        shares, null_share = numeric_shares(series, edges)
        return {"kind": "numeric", "edges": edges, "shares": shares, "null_share": null_share}
    return {"kind": "categorical", "shares": categorical_shares(series, max_categories)}


def column_psi(profile: dict[str, Any], series: pl.Series, epsilon: float) -> tuple[float, float]:
    """PSI of the current values of one column against its reference, and the rise in nulls.

    Numeric PSI is over the known values; the null share is compared on its own (a warm-up
    period of null lags in the reference is not drift, a feature going null is).
    """
    if profile["kind"] == "numeric":
        shares, null_share = numeric_shares(series, profile["edges"])
        return psi(profile["shares"], shares, epsilon), null_share - profile["null_share"]
    ref: dict[str, float] = profile["shares"]
    text = series.cast(pl.String).fill_null(NULL_BUCKET)
    mapped = text.replace_strict(list(ref), list(ref), default=OTHER_BUCKET)
    total = max(mapped.len(), 1)
    now = {str(v): n / total for v, n in mapped.value_counts().iter_rows()}
    keys = sorted(set(ref) | set(now))
    expected, actual = [ref.get(k, 0.0) for k in keys], [now.get(k, 0.0) for k in keys]
    return psi(expected, actual, epsilon), now.get(NULL_BUCKET, 0.0) - ref.get(NULL_BUCKET, 0.0)


def model_inputs(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """The columns as the model sees them: lags and windows divided by ``scale`` if present."""
    scaled = SCALE in frame.columns
    return frame.with_columns(
        (pl.col(c).cast(pl.Float64) / pl.col(SCALE)).alias(c)
        for c in columns
        if scaled and c.startswith(SCALED_PREFIXES)
    )


def segment_id(keys: Sequence[str], values: Sequence[Any]) -> str:
    """``product_type=toys`` (several keys joined by ``,``)."""
    return ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))


def _segments(frame: pl.DataFrame, by: Sequence[str]) -> dict[str, pl.DataFrame]:
    if not by:
        return {}
    groups = frame.sort(list(by)).group_by(list(by), maintain_order=True)
    return {segment_id(by, key): part for key, part in groups}


def _dates(frame: pl.DataFrame) -> dict[str, Any]:
    if "date" not in frame.columns or frame.height == 0:
        return {"first_date": None, "last_date": None}
    return {"first_date": str(frame["date"].min()), "last_date": str(frame["date"].max())}


def build_profile(
    frame: pl.DataFrame,
    columns: Sequence[str],
    bins: int,
    *,
    target: str = TARGET,
    segment_by: Sequence[str] = (),
    max_categories: int = 50,
) -> dict[str, Any]:
    """The reference profile of a training frame (JSON-able), overall and per segment."""
    names = list(dict.fromkeys([*columns, target]))
    inputs = model_inputs(frame, names)

    def describe(part: pl.DataFrame) -> dict[str, Any]:
        cols = {c: column_profile(part[c], bins, max_categories) for c in names}
        return {"rows": part.height, "columns": cols}

    return {
        "version": PROFILE_VERSION,
        "bins": bins,
        "target": target,
        "columns": names,
        "segment_by": list(segment_by),
        "scaled": SCALE in frame.columns,
        **_dates(frame),
        "overall": describe(inputs),
        "segments": {k: describe(p) for k, p in _segments(inputs, segment_by).items()},
    }


def _number_list(value: Any) -> TypeGuard[list[float]]:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )


def _column_problems(name: str, col: Any) -> list[str]:
    if not isinstance(col, dict) or col.get("kind") not in ("numeric", "categorical"):
        return [f"column {name!r} has no kind 'numeric' or 'categorical'"]
    if col["kind"] == "categorical":
        shares = col.get("shares")
        ok = isinstance(shares, dict) and _number_list(list(shares.values()))
        return [] if ok else [f"column {name!r}: 'shares' is not an object of numbers"]
    edges, shares = col.get("edges"), col.get("shares")
    if not (_number_list(edges) and _number_list(shares)) or len(shares) != len(edges) + 1:
        return [f"column {name!r}: 'edges' and 'shares' are not number lists of n and n+1"]
    null_share = col.get("null_share")
    if not isinstance(null_share, int | float) or isinstance(null_share, bool):
        return [f"column {name!r}: 'null_share' is not a number"]
    return []


def profile_problems(profile: dict[str, Any]) -> list[str]:
    """What keeps a saved profile (top-level fields already checked) from being compared."""
    parts = {
        "overall": profile["overall"],
        **{f"segment {k!r}": v for k, v in profile["segments"].items()},
    }
    problems = []
    for where, part in parts.items():
        if not isinstance(part, dict) or not isinstance(part.get("rows"), int):
            problems.append(f"{where} has no row count")
            continue
        cols = part.get("columns")
        if not isinstance(cols, dict):
            problems.append(f"{where} has no 'columns' object")
            continue
        problems += [f"{where}: {p}" for n, c in cols.items() for p in _column_problems(n, c)]
    if not all(isinstance(c, str) for c in profile["columns"]):
        problems.append("'columns' is not a list of names")
    return problems


def _level(value: float, params: DriftParams) -> str:
    return "alert" if value > params.alert else "warn" if value > params.warn else "ok"


def _score(ref: dict[str, Any], part: pl.DataFrame | None, params: DriftParams) -> dict[str, Any]:
    rows = 0 if part is None else part.height
    out: dict[str, Any] = {"rows": rows, "reference_rows": ref["rows"], "columns": {}}
    for name, col in ref["columns"].items():
        entry: dict[str, Any] = {"kind": col["kind"], "psi": None, "null_rise": None}
        if part is None or name not in part.columns or rows < params.min_rows:
            out["columns"][name] = {**entry, "level": "insufficient"}
            continue
        value, null_rise = column_psi(col, part[name], params.epsilon)
        worst = max(_level(value, params), _level(null_rise, params), key=LEVELS.index)
        entry |= {"psi": round(value, 6), "null_rise": round(null_rise, 6), "level": worst}
        out["columns"][name] = entry
    return out


def restrict_profile(profile: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The profile limited to ``columns`` (e.g. the reference's features this run also has)."""
    keep = [c for c in profile["columns"] if c in set(columns)]

    def part(p: dict[str, Any]) -> dict[str, Any]:
        return {**p, "columns": {c: v for c, v in p["columns"].items() if c in keep}}

    return {
        **profile,
        "columns": keep,
        "overall": part(profile["overall"]),
        "segments": {k: part(v) for k, v in profile["segments"].items()},
    }


def psi_against(
    profile: dict[str, Any], frame: pl.DataFrame, params: DriftParams
) -> dict[str, Any]:
    """``drift.json``: PSI per column (features and target) overall and per segment."""
    inputs = model_inputs(frame, profile["columns"])
    current = _segments(inputs, profile["segment_by"])
    segments = {k: _score(ref, current.get(k), params) for k, ref in profile["segments"].items()}
    for key in sorted(set(current) - set(profile["segments"])):
        segments[key] = {"rows": current[key].height, "reference_rows": 0, "columns": {}}
    report = {
        "reference": {
            "rows": profile["overall"]["rows"],
            "first_date": profile.get("first_date"),
            "last_date": profile.get("last_date"),
            "model_version": profile.get("model_version"),
        },
        "current": {"rows": frame.height, **_dates(frame)},
        "thresholds": {"warn": params.warn, "alert": params.alert, "min_rows": params.min_rows},
        "target": profile["target"],
        "overall": _score(profile["overall"], inputs, params),
        "segments": segments,
    }
    report["summary"] = summarise(report, params.alert_on_segments)
    return report


def _judged(part: dict[str, Any], prefix: str = "") -> list[tuple[str, float, str]]:
    return [
        (f"{prefix}{name}", col["psi"], col["level"])
        for name, col in part["columns"].items()
        if col["psi"] is not None
    ]


def _worst(items: list[tuple[str, float, str]]) -> str:
    return max((level for _, _, level in items), key=LEVELS.index, default="ok")


def summarise(report: dict[str, Any], alert_on_segments: bool) -> dict[str, Any]:
    """Worst level, largest PSI and where, and the alerting and warning columns.

    ``level`` is judged on the whole frame; segment results (``product_type=toys/lag_7``)
    are listed apart and count towards ``level`` only with ``alert_on_segments``: a short
    window of one seasonal segment shifts often, and a real shift shows overall too.
    """
    overall = _judged(report["overall"])
    segments = [i for k, s in report["segments"].items() for i in _judged(s, f"{k}/")]
    worst = max([*overall, *segments], key=lambda item: item[1], default=None)
    return {
        "level": _worst([*overall, *segments] if alert_on_segments else overall),
        "segment_level": _worst(segments),
        "max_psi": worst[1] if worst else None,
        "max_at": worst[0] if worst else None,
        "alerts": [name for name, _, level in overall if level == "alert"],
        "warnings": [name for name, _, level in overall if level == "warn"],
        "segment_alerts": [name for name, _, level in segments if level == "alert"],
        "segment_warnings": [name for name, _, level in segments if level == "warn"],
        "new_segments": [k for k, s in report["segments"].items() if not s["reference_rows"]],
        "missing_segments": [k for k, s in report["segments"].items() if s["rows"] == 0],
    }


def latest_periods(frame: pl.DataFrame, periods: int) -> pl.DataFrame:
    """Rows of the last ``periods`` distinct dates (the window compared with the reference)."""
    dates = frame["date"].unique().sort()
    if dates.len() <= periods:
        return frame
    return frame.filter(pl.col("date") >= dates[-periods])


def window_periods(frequency: str, configured: int | None = None) -> int:
    """``monitoring.drift.window_periods``, or the per-frequency default."""
    return configured or DEFAULT_WINDOW[frequency]
