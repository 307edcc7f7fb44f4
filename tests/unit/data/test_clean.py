"""Unit tests for tasks.data.clean: quarantine reasons and precedence, repair, duplicates, counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tasks.data import clean
from tasks.data.clean import CleanParams, ReconciliationError
from tasks.data.schemas import QUARANTINE_REASONS
from tests.support import defaults
from tests.support.frames import RAW_SCHEMA as RAW_SCHEMA_FOR_TESTS

D = dt.date
KEYS = ["region", "product_type"]
PARAMS = defaults.clean(
    series_keys=KEYS,
    min_revenue=1.0,
    allowed_categories={"region": ["north", "south"], "product_type": ["toys", "games"]},
)
RawRows = Callable[..., pl.LazyFrame]

# One crafted row per reason: each breaks exactly that rule.
REASON_CASES: dict[str, dict[str, Any]] = {
    "missing_date": {"date_raw": "  ", "date": None},
    "unparsable_date": {"date_raw": "31/02/2024", "date": None},
    "future_date": {"date": D(2024, 1, 5)},  # after its arrival folder 2024-01-01
    "missing_key": {"product_type": " "},
    "unknown_category": {"region": "North"},
    "null_revenue": {"revenue": None, "unit_price": None},
    "negative_revenue": {"revenue": -3.0},
    "below_min_revenue": {"revenue": 0.5},
}
# Rows that break two rules: the earlier rule names the reason.
PRECEDENCE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"date_raw": "bad", "date": None, "revenue": None, "units": None}, "unparsable_date"),
    ({"date_raw": None, "date": None, "region": None}, "missing_date"),
    ({"date_raw": "2024-13-01", "date": None, "region": "mars"}, "unparsable_date"),
    ({"date": D(2024, 1, 9), "region": None}, "future_date"),
    ({"region": None, "product_type": "lego"}, "missing_key"),
    ({"region": "", "revenue": -1.0}, "missing_key"),
    ({"product_type": "lego", "revenue": None, "units": None}, "unknown_category"),
    ({"region": "mars", "revenue": -1.0}, "unknown_category"),
    ({"revenue": float("nan")}, "null_revenue"),
    ({"revenue": float("inf")}, "null_revenue"),
    ({"revenue": -0.5}, "negative_revenue"),  # also below min_revenue
]


def _flag(lf: pl.LazyFrame, params: CleanParams = PARAMS) -> pl.DataFrame:
    return clean.flag_rows(lf, params).collect()


def _run(lf: pl.LazyFrame, params: CleanParams = PARAMS) -> clean.CleanResult:
    flagged = clean.flag_rows(lf, params)
    daily, quarantine, counts = pl.collect_all(
        [
            clean.rollup_daily(flagged, params.series_keys),
            clean.quarantine_rows(flagged, []),
            clean.row_counts(flagged),
        ]
    )
    return clean.CleanResult(daily, quarantine, counts.row(0, named=True))


def test_good_row_has_no_reason_and_is_kept(raw_rows: RawRows) -> None:
    flagged = _flag(raw_rows({}))
    assert flagged["reason"].to_list() == [None]
    assert flagged["repaired"].to_list() == [False]
    assert flagged["is_late"].to_list() == [False]
    assert flagged["revenue_clean"].to_list() == [10.0]


@pytest.mark.parametrize("reason", list(REASON_CASES))
def test_each_reason_fires_on_its_row(raw_rows: RawRows, reason: str) -> None:
    flagged = _flag(raw_rows({}, REASON_CASES[reason], {"store_id": "S9"}))
    assert flagged["reason"].to_list() == [None, reason, None]


def test_duplicate_reason_fires_on_exact_copies(raw_rows: RawRows) -> None:
    flagged = _flag(raw_rows({}, {}))
    assert flagged["reason"].to_list() == [None, "duplicate"]


def test_reasons_cover_the_quarantine_schema() -> None:
    assert {*REASON_CASES, "duplicate"} == set(QUARANTINE_REASONS)


@pytest.mark.parametrize(("override", "reason"), PRECEDENCE_CASES)
def test_the_earliest_rule_names_the_reason(
    raw_rows: RawRows, override: dict[str, Any], reason: str
) -> None:
    assert _flag(raw_rows(override))["reason"].to_list() == [reason]


def test_precedence_follows_the_declared_order(raw_rows: RawRows) -> None:
    """A row breaking every rule at once gets the first reason; dropping it gives the next."""
    order = [r for r in QUARANTINE_REASONS if r != "duplicate"]
    for i, reason in enumerate(order):
        row: dict[str, Any] = {}
        for later in reversed(order[i:]):  # an earlier rule's values win
            row.update(REASON_CASES[later])
        got = _flag(raw_rows(row))["reason"].to_list()
        assert got == [reason], (reason, row)


def test_allowed_categories_are_optional(raw_rows: RawRows) -> None:
    params = defaults.clean(series_keys=KEYS, allowed_categories={})
    assert _flag(raw_rows({"region": "mars"}), params)["reason"].to_list() == [None]


def test_min_revenue_is_inclusive(raw_rows: RawRows) -> None:
    flagged = _flag(raw_rows({"revenue": 1.0}, {"revenue": 0.99}, {"revenue": 0.0}))
    assert flagged["reason"].to_list() == [None, "below_min_revenue", "below_min_revenue"]
    zero_ok = defaults.clean(series_keys=KEYS, allowed_categories={}, min_revenue=0.0)
    assert _flag(raw_rows({"revenue": 0.0}), zero_ok)["reason"].to_list() == [None]


def test_revenue_is_repaired_from_units_times_price(raw_rows: RawRows) -> None:
    result = _run(raw_rows({"revenue": None, "units": 3, "unit_price": 1.333}, {"store_id": "S2"}))
    assert result.quarantine.height == 0
    assert result.daily["revenue"].to_list() == [4.0 + 10.0]  # 3 * 1.333 rounded to cents
    assert result.counts["rows_repaired"] == 1
    assert result.counts["rows_kept"] == 2


@pytest.mark.parametrize("missing", ["units", "unit_price"])
def test_revenue_without_units_or_price_cannot_be_repaired(raw_rows: RawRows, missing: str) -> None:
    result = _run(raw_rows({"revenue": None, missing: None}))
    assert result.quarantine["reason"].to_list() == ["null_revenue"]
    assert result.counts["rows_repaired"] == 0


def test_repair_can_be_switched_off(raw_rows: RawRows) -> None:
    params = defaults.clean(series_keys=KEYS, allowed_categories={}, repair_revenue=False)
    result = _run(raw_rows({"revenue": None}), params)
    assert result.quarantine["reason"].to_list() == ["null_revenue"]
    assert result.counts["rows_repaired"] == 0


def test_repaired_row_below_min_is_quarantined_not_counted_as_repaired(raw_rows: RawRows) -> None:
    result = _run(raw_rows({"revenue": None, "units": 1, "unit_price": 0.5}))
    assert result.quarantine["reason"].to_list() == ["below_min_revenue"]
    assert result.counts["rows_repaired"] == 0


def test_exactly_one_of_several_copies_is_kept(raw_rows: RawRows) -> None:
    lf = raw_rows({}, {"store_id": "S2"}, {}, {"store_id": "S2"}, {})
    flagged = _flag(lf)
    assert flagged["reason"].to_list() == [None, None, "duplicate", "duplicate", "duplicate"]
    result = _run(lf)
    assert result.daily["n_rows"].to_list() == [2]
    assert result.daily["revenue"].to_list() == [20.0]


def test_copies_in_other_files_and_folders_are_duplicates(raw_rows: RawRows) -> None:
    later = {"source_file": "raw/date=2024-01-03/part-0.parquet", "arrival_date": D(2024, 1, 3)}
    assert _flag(raw_rows({}, later))["reason"].to_list() == [None, "duplicate"]


@pytest.mark.parametrize(
    "change",
    [
        {"store_id": "S2"},
        {"units": 3},
        {"unit_price": 5.5},
        {"promo": True},
        {"revenue": 10.01},
        {"date": D(2023, 12, 31)},
        {"date_raw": " 2024-01-01"},  # same day, but not the same bytes
    ],
)
def test_rows_differing_in_any_field_are_not_duplicates(
    raw_rows: RawRows, change: dict[str, Any]
) -> None:
    flagged = _flag(raw_rows({}, change))
    assert flagged["reason"].to_list() == [None, None]


def test_a_copy_is_kept_when_the_first_copy_is_quarantined_for_its_folder(
    raw_rows: RawRows,
) -> None:
    """The same row arriving first in a folder before its date, then correctly: keep one."""
    early = {"date": D(2024, 1, 3), "arrival_date": D(2024, 1, 1)}
    ok = {
        "date": D(2024, 1, 3),
        "arrival_date": D(2024, 1, 4),
        "source_file": "raw/date=2024-01-04/part-0.parquet",
    }
    result = _run(raw_rows(early, ok, ok))
    assert result.quarantine["reason"].to_list() == ["future_date", "duplicate"]
    assert result.daily["n_rows"].to_list() == [1]


def test_copies_of_a_bad_row_keep_their_own_reason(raw_rows: RawRows) -> None:
    flagged = _flag(raw_rows({"revenue": -2.0}, {"revenue": -2.0}, {}))
    assert flagged["reason"].to_list() == ["negative_revenue", "negative_revenue", None]


def test_late_rows_are_kept_and_counted(raw_rows: RawRows) -> None:
    lf = raw_rows(
        {"date": D(2023, 12, 31)},  # 1 day late: within the default tolerance
        {"date": D(2023, 12, 30), "store_id": "S2"},  # 2 days late
        {"date": D(2023, 12, 20), "store_id": "S3", "revenue": -1.0},  # late and bad
        {"arrival_date": None, "store_id": "S4"},  # no hive folder: never late
    )
    flagged = _flag(lf)
    assert flagged["is_late"].to_list() == [False, True, True, False]
    result = _run(lf)
    assert result.counts["rows_late"] == 1  # kept late rows only
    assert result.counts["rows_kept"] == 3
    strict = defaults.clean(series_keys=KEYS, allowed_categories={}, min_revenue=1.0, late_tolerance_days=0)
    assert _run(lf, strict).counts["rows_late"] == 2


def test_counts_reconcile(raw_rows: RawRows) -> None:
    cases = [{}, *REASON_CASES.values(), {}, {"revenue": None, "store_id": "S5"}]
    result = _run(raw_rows(*cases))
    c = result.counts
    assert c == {
        "rows_in": 11,
        "rows_kept": 2,
        "rows_quarantined": 9,
        "rows_repaired": 1,
        "rows_late": 0,
    }
    assert c["rows_in"] == c["rows_kept"] + c["rows_quarantined"]
    assert result.quarantine.height == c["rows_quarantined"]
    assert int(result.daily["n_rows"].sum()) == c["rows_kept"]
    clean.reconcile(c, result.quarantine, result.daily)
    assert clean.reason_counts(result.quarantine) == dict.fromkeys(sorted(QUARANTINE_REASONS), 1)


@pytest.mark.parametrize(
    "tamper",
    ["rows_in", "rows_kept", "rows_quarantined", "quarantine_frame", "daily_frame"],
)
def test_reconcile_raises_on_any_mismatch(raw_rows: RawRows, tamper: str) -> None:
    result = _run(raw_rows({}, {"store_id": "S2"}, {"revenue": -1.0}, {}))
    counts, quarantine, daily = dict(result.counts), result.quarantine, result.daily
    clean.reconcile(counts, quarantine, daily)
    if tamper in counts:
        counts[tamper] += 1
    elif tamper == "quarantine_frame":
        quarantine = quarantine.head(1)
    else:
        daily = daily.with_columns(pl.col("n_rows") - 1)
    with pytest.raises(ReconciliationError, match="do not reconcile"):
        clean.reconcile(counts, quarantine, daily)


def test_empty_input_reconciles(raw_rows: RawRows) -> None:
    result = _run(raw_rows())
    assert result.counts["rows_in"] == 0
    clean.reconcile(result.counts, result.quarantine, result.daily)
    assert clean.reason_counts(result.quarantine) == {}


def test_quarantine_keeps_values_as_they_arrived(raw_rows: RawRows) -> None:
    lf = raw_rows({}, {"date_raw": "31/02/2024", "date": None, "units": 7, "channel": None})
    quarantine = clean.quarantine_rows(clean.flag_rows(lf, PARAMS), []).collect()
    assert quarantine.columns == [
        "date",
        "region",
        "product_type",
        "store_id",
        "revenue",
        "units",
        "unit_price",
        "promo",
        "reason",
        "source_file",
    ]
    assert all(dtype == pl.String for dtype in quarantine.dtypes)
    assert quarantine.row(0, named=True) == {
        "date": "31/02/2024",
        "region": "north",
        "product_type": "toys",
        "store_id": "S1",
        "revenue": "10.0",
        "units": "7",
        "unit_price": "5.0",
        "promo": "false",
        "reason": "unparsable_date",
        "source_file": "raw/date=2024-01-01/part-0.parquet",
    }


def test_quarantine_carries_extra_columns(raw_rows: RawRows) -> None:
    lf = raw_rows({"revenue": -1.0}).with_columns(pl.lit("web").alias("channel"))
    quarantine = clean.quarantine_rows(clean.flag_rows(lf, PARAMS), ["channel"]).collect()
    assert quarantine["channel"].to_list() == ["web"]


def test_rollup_sums_per_series_and_day(raw_rows: RawRows) -> None:
    lf = raw_rows(
        {"store_id": "S1", "revenue": 10.0, "units": 2, "promo": True},
        {"store_id": "S2", "revenue": 5.0, "units": None, "promo": None},
        {"store_id": "S3", "revenue": 2.5, "units": 1, "promo": False, "region": "south"},
        {"store_id": "S4", "date": D(2023, 12, 31), "units": None, "unit_price": None},
        {"store_id": "S5", "revenue": -1.0},  # quarantined: not in the roll-up
    )
    daily = clean.rollup_daily(clean.flag_rows(lf, PARAMS), KEYS).collect()
    assert daily.select(*KEYS, "date").rows() == [
        ("north", "toys", D(2023, 12, 31)),
        ("north", "toys", D(2024, 1, 1)),
        ("south", "toys", D(2024, 1, 1)),
    ]
    assert daily["revenue"].to_list() == [10.0, 15.0, 2.5]
    assert daily["units"].to_list() == [None, 2, 1]  # all-null units stay null, not 0
    assert daily["promo"].to_list() == [0.0, 0.5, 0.0]  # share of rows on promo
    assert daily["n_rows"].to_list() == [1, 2, 1]
    assert daily.schema["n_rows"] == pl.Int64




def _random_raw(n: int, seed: int) -> pl.DataFrame:
    """Rows drawn from a few values per column, so many are exact copies; some are bad."""
    rng = np.random.default_rng(seed)
    days = [D(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 3, n)]
    lags = rng.integers(-1, 3, n)
    arrival = [d + dt.timedelta(days=int(k)) for d, k in zip(days, lags, strict=True)]
    return pl.DataFrame(
        {
            "date_raw": [d.isoformat() for d in days],
            "date": days,
            "region": rng.choice(["north", "south", "mars"], n).tolist(),
            "product_type": rng.choice(["toys", "games"], n).tolist(),
            "revenue": rng.choice([1.5, 2.0, -1.0, float("nan")], n).tolist(),
            "store_id": rng.choice(["S1", "S2"], n).tolist(),
            "units": rng.integers(1, 3, n).tolist(),
            "unit_price": [1.0] * n,
            "promo": rng.choice([True, False], n).tolist(),
            "source_file": [f"raw/date={a}/part-0.parquet" for a in arrival],
            "arrival_date": arrival,
        },
        schema=RAW_SCHEMA_FOR_TESTS,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicates_are_exactly_the_later_copies_of_good_rows(seed: int) -> None:
    """The hash-based duplicate pass flags what comparing whole rows flags."""
    raw = _random_raw(3000, seed)
    flagged = _flag(raw.lazy())
    identity = clean.identity_columns(raw.lazy())
    good = flagged["reason"].is_null() | (flagged["reason"] == "duplicate")
    expected = raw.with_columns(good.alias("_good")).select(
        (pl.col("_good") & pl.struct(identity).is_first_distinct().over("_good").not_()).alias("d")
    )["d"]
    assert (flagged["reason"] == "duplicate").fill_null(False).to_list() == expected.to_list()
    assert expected.sum() > 100  # the data has plenty of copies


def test_rollup_revenue_is_the_same_to_the_bit_in_any_row_order() -> None:
    rng = np.random.default_rng(7)
    values = (rng.random(5000) * 1000).round(2)
    frame = pl.DataFrame({"g": rng.integers(0, 3, 5000), "v": values})
    sums = [
        frame.sample(fraction=1.0, shuffle=True, seed=s)
        .group_by("g")
        .agg(clean.exact_sum("v"))
        .sort("g")["v"]
        .to_list()
        for s in range(5)
    ]
    assert all(s == sums[0] for s in sums)
    exact = [float(sum(Fraction(v) for v in values[frame["g"].to_numpy() == g])) for g in range(3)]
    assert sums[0] == exact  # correctly rounded exact sums


def test_collect_matches_collecting_each_plan(raw_rows: RawRows) -> None:
    raw = _random_raw(2000, 3).lazy()
    flagged = clean.flag_rows(raw, PARAMS)
    result, (extra,) = clean.collect(flagged, PARAMS, [], [flagged.select(pl.len())])
    direct = _run(raw)
    assert result.daily.equals(direct.daily)
    assert result.quarantine.equals(direct.quarantine)
    assert {k: result.counts[k] for k in direct.counts} == direct.counts
    assert result.counts["duplicate"] == clean.reason_counts(direct.quarantine)["duplicate"]
    assert extra.item() == 2000
    empty, _ = clean.collect(clean.flag_rows(raw_rows(), PARAMS), PARAMS, [])
    assert empty.counts["rows_in"] == 0
    assert empty.quarantine.columns == direct.quarantine.columns


# --- every row quarantined ---------------------------------------------------------------------


def test_all_quarantined_reports_counts_by_reason_and_writes_the_quarantine(
    raw_rows: RawRows, tmp_path: Path
) -> None:
    from tasks.stages import no_clean_rows_task

    raw = raw_rows(*[REASON_CASES["unknown_category"]] * 3, REASON_CASES["negative_revenue"])
    result, _ = clean.collect(clean.flag_rows(raw, PARAMS), PARAMS, [])
    assert result.daily.height == 0
    run_dir = tmp_path / "runs" / "2024-01-01" / "run-1"
    with pytest.raises(clean.NoCleanRowsError) as info:
        no_clean_rows_task.fn(cleaned=result, run_dir=str(run_dir))
    text = info.value.block()
    assert "all 4 rows were quarantined (unknown_category 3, negative_revenue 1)" in text
    assert f"where: {run_dir / 'quarantine.parquet'}" in text
    assert "data.allowed_categories" in text  # the fix for the most common reason
    written = pl.read_parquet(run_dir / "quarantine.parquet")
    assert written.equals(result.quarantine)
    assert not (run_dir / "manifest.json").exists()


@pytest.mark.parametrize("reason", sorted(clean.REASON_FIXES))
def test_every_reason_has_a_fix(reason: str) -> None:
    assert reason in QUARANTINE_REASONS
    error = clean.no_clean_rows({"rows_in": 2, reason: 2}, "q.parquet")
    assert clean.REASON_FIXES[reason] in error.block()
