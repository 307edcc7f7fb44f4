"""The reference: the same semantics written the way an exploratory notebook writes them.

read every file → dropna → to_datetime → filter → drop_duplicates → groupby → resample →
groupby().shift / rolling → lightgbm → a recursive forecast loop. Plain pandas (pyarrow
only as pandas' parquet reader); the rules and settings come from :class:`BenchParams`
so they stay those of ``tasks/data/clean.py``, ``tasks/data/aggregate.py`` and
``tasks/model/features.py``.
Lives in ``benchmarks/`` only: it is a yardstick, not part of the pipeline.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

import holidays
import lightgbm as lgb
import numpy as np
import pandas as pd

from benchmarks.measure import Recorder
from benchmarks.params import BenchParams

ARRIVAL = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
RAW = ["date", "region", "product_type", "revenue", "store_id", "units", "unit_price", "promo"]


def read_raw(root: str) -> pd.DataFrame:
    """Every parquet file under ``root``, with the arrival date from its ``date=`` folder."""
    frames = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True)):
        df = pd.read_parquet(path)
        match = ARRIVAL.search(path)
        df["arrival"] = pd.Timestamp(match.group(1)) if match else pd.NaT
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def clean(df: pd.DataFrame, p: BenchParams) -> pd.DataFrame:
    """Drop every row ``tasks/data/clean.py`` quarantines; repair null revenue first."""
    keys = p.series_keys
    # category spellings in normal form (trim, collapse spaces, lower case), as clean does
    for col in dict.fromkeys([*keys, *p.allowed_categories]):
        text = df[col].astype("string")
        df[col] = text.str.split().str.join(" ").str.lower().astype(object).where(text.notna())
    df["revenue_clean"] = df["revenue"]
    if p.repair_revenue:
        df["revenue_clean"] = df["revenue"].fillna((df["units"] * df["unit_price"]).round(2))
    df = df.dropna(subset=["date", *keys, "revenue_clean"])
    df = df.assign(day=pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce"))
    df = df.dropna(subset=["day"])
    df = df[df["arrival"].isna() | (df["day"] <= df["arrival"])]
    for k in keys:
        df = df[df[k].str.strip() != ""]
    for col, allowed in p.allowed_categories.items():
        if allowed:
            df = df[df[col].isin({" ".join(v.split()).lower() for v in allowed})]
    revenue = df["revenue_clean"]
    df = df[np.isfinite(revenue) & (revenue >= 0) & (revenue >= p.min_revenue)]
    return df.drop_duplicates(subset=[c for c in RAW if c in df.columns], keep="first")


def daily(df: pd.DataFrame, p: BenchParams) -> pd.DataFrame:
    """Kept rows summed per (series, day)."""
    df = df.assign(promo=df["promo"].fillna(False).astype(float))
    out = df.groupby([*p.series_keys, "day"]).agg(
        revenue=("revenue_clean", "sum"),
        units=("units", lambda s: s.sum(min_count=1)),
        promo=("promo", "mean"),
        n_rows=("revenue_clean", "size"),
    )
    return out.reset_index().rename(columns={"day": "date"})


def panel(days: pd.DataFrame, p: BenchParams) -> pd.DataFrame:
    """Complete calendar per series (daily data: no partial periods to drop)."""
    keys = p.series_keys
    full = (
        days.set_index("date")
        .groupby(keys)[["revenue", "units", "promo", "n_rows"]]
        .resample("D")
        .asfreq()
        .reset_index()
    )
    full["is_filled"] = full["n_rows"].isna()
    full["n_rows"] = full["n_rows"].fillna(0).astype("int64")
    full["promo"] = full["promo"].fillna(0.0)
    full["revenue"] = full["revenue"].fillna(0.0)
    full.loc[full["is_filled"], "units"] = 0
    return full.sort_values([*keys, "date"]).reset_index(drop=True)


def add_features(df: pd.DataFrame, p: BenchParams) -> pd.DataFrame:
    """Lags and rolling windows over the target shifted by one, calendar, promo, scale."""
    keys = p.series_keys
    df = df.sort_values([*keys, "date"]).reset_index(drop=True)
    g = df.groupby(keys)["revenue"]
    for k in p.lags:
        df[f"lag_{k}"] = g.shift(k)
    for w in p.window_sizes:
        df[f"roll_mean_{w}"] = g.transform(
            lambda s, w=w: s.shift(1).rolling(w, min_periods=1).mean()
        )
        df[f"roll_std_{w}"] = g.transform(lambda s, w=w: s.shift(1).rolling(w, min_periods=2).std())
    level = g.transform(lambda s: s.shift(1).rolling(p.scale_window, min_periods=1).mean())
    df["scale"] = level.where(level > 0)
    df["day_of_week"] = df["date"].dt.dayofweek + 1
    df["day_of_month"] = df["date"].dt.day
    df["week_of_year"] = df["date"].dt.isocalendar().week.astype("int32")
    df["month"] = df["date"].dt.month
    if p.holiday_country:
        years = range(df["date"].dt.year.min(), df["date"].dt.year.max() + 1)
        days = pd.to_datetime(list(holidays.country_holidays(p.holiday_country, years=years)))
        df["is_holiday"] = df["date"].isin(days).astype("int32")
    df["promo"] = df["promo"].fillna(0.0)
    names = [c for c in p.feature_names if c not in keys]
    return df[[*keys, "date", "revenue", *names, "scale"]]


def matrix(df: pd.DataFrame, p: BenchParams, levels: dict[str, list[str]]) -> np.ndarray:
    """Model matrix: lags and windows divided by the scale, categoricals as level codes."""
    x = pd.DataFrame(index=df.index)
    for name in p.feature_names:
        if name in levels:
            x[name] = pd.Categorical(df[name], categories=levels[name]).codes
            x.loc[x[name] < 0, name] = np.nan
        elif p.normalize and name.startswith(("lag_", "roll_")):
            x[name] = df[name] / df["scale"]
        else:
            x[name] = df[name]
    out: np.ndarray = x.to_numpy(dtype=np.float64)
    return out


def lgb_params(p: BenchParams) -> dict[str, Any]:
    """The pipeline's LightGBM settings, written out as a notebook would."""
    return {
        "monotone_constraints": [1 if n == "promo" else 0 for n in p.feature_names],
        **p.hyperparameters,
        "seed": p.seed,
        "bagging_seed": p.seed,
        "feature_fraction_seed": p.seed,
        "data_random_seed": p.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit(feats: pd.DataFrame, p: BenchParams) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """LightGBM on every row with a known target and scale."""
    rows = feats.dropna(subset=["revenue", "scale"] if p.normalize else ["revenue"])
    levels = {c: sorted(rows[c].dropna().astype(str).unique()) for c in p.categorical_columns}
    label = rows["revenue"] / rows["scale"] if p.normalize else rows["revenue"]
    ds = lgb.Dataset(
        matrix(rows, p, levels),
        label=label.to_numpy(),
        feature_name=p.feature_names,
        categorical_feature=[n for n in p.feature_names if n in levels],
    )
    return lgb.train(lgb_params(p), ds, num_boost_round=p.num_boost_round), levels


def forecast(
    booster: lgb.Booster, levels: dict[str, list[str]], pan: pd.DataFrame, p: BenchParams
) -> pd.DataFrame:
    """Recursive: predict one day for every series, append it, recompute the features."""
    keys = p.series_keys
    hist = pan.sort_values([*keys, "date"]).groupby(keys).tail(p.lookback)
    hist = hist[[*keys, "date", "revenue", "promo"]]
    end = pan["date"].max() + pd.Timedelta(days=p.horizon)
    last = hist.groupby(keys)["date"].max().reset_index()
    future = [
        {**dict(zip(keys, row[:-1], strict=True)), "date": d, "revenue": np.nan, "promo": 0.0}
        for row in last.itertuples(index=False)
        for d in pd.date_range(row[-1] + pd.Timedelta(days=1), end, freq="D")
    ]
    work = pd.concat([hist, pd.DataFrame(future)], ignore_index=True)
    for day in sorted(pd.DataFrame(future)["date"].unique()):
        feats = add_features(work, p)
        step = feats[feats["date"] == day]
        pred = booster.predict(matrix(step, p, levels))
        if p.normalize:
            pred = pred * step["scale"].fillna(0.0).to_numpy()
        feats.loc[step.index, "revenue"] = np.clip(pred, 0.0, None)
        work = feats[[*keys, "date", "revenue", "promo"]]
    out = work[work["date"] > pan["date"].max()].rename(columns={"revenue": "forecast"})
    return out[[*keys, "date", "forecast"]].reset_index(drop=True)


def prepare(p: BenchParams, rec: Recorder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """read → clean → panel → features, timed per stage; returns (panel, features)."""
    with rec.stage("ingest"):
        raw = read_raw(p.input_path)
    rec.info["rows_in"] = len(raw)
    with rec.stage("clean"):
        days = daily(clean(raw, p), p)
        del raw
    with rec.stage("panel"):
        pan = panel(days, p)
    with rec.stage("features"):
        feats = add_features(pan, p)
    return pan, feats


def run(p: BenchParams, rec: Recorder) -> pd.DataFrame:
    """The whole reference: prepare, train, forecast."""
    pan, feats = prepare(p, rec)
    with rec.stage("train"):
        booster, levels = fit(feats, p)
    with rec.stage("forecast"):
        out = forecast(booster, levels, pan, p)
    rec.info.update(panel_rows=len(pan), feature_rows=len(feats), forecast_rows=len(out))
    rec.info["forecast_total"] = float(out["forecast"].sum())
    return out
