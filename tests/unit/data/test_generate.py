"""Unit tests for the synthetic sales generator (tasks.data.sources.generate)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from dataclasses import replace
from pathlib import Path

import holidays
import polars as pl
import pytest

from tasks.data.sources import generate as gen
from tasks.data.sources.generate import (
    DatasetInfo,
    DefectRates,
    GeneratorSpec,
    ensure_dataset,
    expected_rows,
    generate_day,
    generate_frame,
    write_dataset,
)

CONTRACT = {
    "date": pl.Date,
    "store_id": pl.String,
    "region": pl.String,
    "product_type": pl.String,
    "units": pl.Int64,
    "unit_price": pl.Float64,
    "revenue": pl.Float64,
    "promo": pl.Boolean,
}
NO_DEFECTS = DefectRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
MANY_DEFECTS = DefectRates(0.04, 0.03, 0.05, 0.03, 0.02, 0.08)
SMALL = GeneratorSpec(days=20, stores_per_region=1, transactions_per_day=2.0)
PART_RE = re.compile(r"date=(\d{4}-\d{2}-\d{2})/part-(\d+)\.(parquet|csv)$")


def _files(root: Path, fmt: str = "parquet") -> list[Path]:
    return sorted(root.glob(f"date=*/part-*.{fmt}"))


def _read(root: Path, fmt: str = "parquet") -> pl.DataFrame:
    """All files with the arrival date taken from the partition path."""
    frames = []
    for path in _files(root, fmt):
        df = (
            pl.read_parquet(path, hive_partitioning=False)
            if fmt == "parquet"
            else pl.read_csv(path)
        )
        arrival = dt.date.fromisoformat(path.parent.name.removeprefix("date="))
        frames.append(df.with_columns(_partition=pl.lit(arrival), _file=pl.lit(str(path))))
    return pl.concat(frames, how="diagonal_relaxed")


def _counts(df: pl.DataFrame, spec: GeneratorSpec) -> dict[str, int]:
    """Defect counts measured on data (``_partition`` = arrival date; ``_file`` optional)."""
    date = pl.col("date")
    if spec.file_format == "csv":
        date = date.str.to_date("%Y-%m-%d", strict=False)
    data = df.drop("_partition", "_file", strict=False)
    if "_file" in df.columns:  # duplicates are counted per file
        dups = sum(
            g.height - g.drop("_file").unique().height
            for g in df.drop("_partition").partition_by("_file")
        )
    else:
        dups = data.height - data.unique().height
    return {
        "null_revenue": df["revenue"].null_count(),
        "negative_revenue": int((df["revenue"] < 0).sum()),
        "duplicate": dups,
        "bad_date": int(df.select(date.is_null().sum()).item()),
        "unknown_category": int(
            (
                ~df["region"].is_in(list(spec.regions))
                | ~df["product_type"].is_in(list(spec.product_types))
            ).sum()
        ),
        "late": int(df.select((date.is_not_null() & (pl.col("_partition") != date)).sum()).item()),
    }


@pytest.fixture(scope="module")
def structured() -> pl.DataFrame:
    """One clean year with enough volume to see the seasonal structure."""
    spec = GeneratorSpec(
        days=365, stores_per_region=1, transactions_per_day=12.0, defects=NO_DEFECTS
    )
    return generate_frame(spec)


@pytest.fixture(scope="module")
def daily(structured: pl.DataFrame) -> pl.DataFrame:
    return structured.group_by("date", "product_type").agg(pl.col("units").sum()).sort("date")


def _mean_units(daily: pl.DataFrame, product: str, cond: pl.Expr) -> float:
    return float(daily.filter((pl.col("product_type") == product) & cond)["units"].mean())  # type: ignore[arg-type]


# --- determinism -------------------------------------------------------------------------------


def test_same_spec_gives_identical_frames() -> None:
    assert generate_frame(SMALL).equals(generate_frame(SMALL), null_equal=True)


def test_different_seed_gives_different_data() -> None:
    other = generate_frame(replace(SMALL, seed=7))
    assert not generate_frame(SMALL).equals(other)


def test_days_are_independent_of_generation_order() -> None:
    days = [dt.date(2023, 1, 15), dt.date(2023, 1, 3)]
    frame = generate_frame(SMALL)
    for day in days:  # reverse order, no prior state
        expected = frame.filter(pl.col("date") == day).drop("_partition")
        assert generate_day(SMALL, day).equals(expected, null_equal=True)


def test_generate_day_outside_range_raises() -> None:
    with pytest.raises(ValueError, match="outside"):
        generate_day(SMALL, dt.date(2022, 12, 31))


# --- contract ----------------------------------------------------------------------------------


def test_frame_columns_and_dtypes() -> None:
    assert generate_day(SMALL, dt.date(2023, 1, 2)).schema == pl.Schema(CONTRACT)
    assert generate_frame(SMALL).schema == pl.Schema({**CONTRACT, "_partition": pl.Date})


def test_parquet_read_back_matches_contract(tmp_path: Path) -> None:
    write_dataset(SMALL, tmp_path / "ds")
    df = pl.read_parquet(_files(tmp_path / "ds"), hive_partitioning=False)
    assert df.schema == pl.Schema(CONTRACT)


def test_csv_read_back_matches_contract(tmp_path: Path) -> None:
    spec = replace(SMALL, file_format="csv", transactions_per_day=20.0)
    write_dataset(spec, tmp_path / "ds")
    df = pl.scan_csv(tmp_path / "ds" / "**" / "*.csv").collect()
    assert df.schema == pl.Schema({**CONTRACT, "date": pl.String})
    assert generate_day(spec, dt.date(2023, 1, 2)).schema["date"] == pl.String


# --- defects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_defect_counts_follow_rates_and_match_the_data(tmp_path: Path, fmt: str) -> None:
    spec = GeneratorSpec(days=40, transactions_per_day=6.0, defects=MANY_DEFECTS, file_format=fmt)
    info = write_dataset(spec, tmp_path / "ds")
    df = _read(tmp_path / "ds", fmt)
    assert info.rows == df.height
    measured, counted = _counts(df, spec), dict(info.defect_counts)
    if fmt == "csv":  # the true date of a late row with an unparsable date is unknown
        late = counted.pop("late")
        assert measured["late"] <= late <= measured.pop("late") + counted["bad_date"]
    assert measured == counted
    for name, rate in MANY_DEFECTS.__dict__.items():
        if name == "bad_date" and fmt == "parquet":
            assert info.defect_counts[name] == 0
            continue
        expected = rate * info.rows
        assert abs(info.defect_counts[name] - expected) < 5 * math.sqrt(expected), name


def test_zero_rates_give_zero_defects(tmp_path: Path) -> None:
    spec = replace(SMALL, defects=NO_DEFECTS, file_format="csv")
    info = write_dataset(spec, tmp_path / "ds")
    assert info.defect_counts == dict.fromkeys(info.defect_counts, 0)
    assert _counts(_read(tmp_path / "ds", "csv"), spec) == info.defect_counts
    assert (generate_frame(spec)["units"] > 0).all()


def test_late_rows_arrive_in_a_later_partition() -> None:
    spec = GeneratorSpec(days=30, defects=MANY_DEFECTS)
    df = generate_frame(spec)
    late = df.filter(pl.col("_partition") != pl.col("date"))
    assert late.height > 0
    last = dt.date(2023, 1, 30)
    lag = (pl.col("_partition") - pl.col("date")).dt.total_days()
    assert late.select((lag >= 1) & (lag <= spec.late_max_days)).to_series().all()
    assert df["_partition"].max() == last
    assert df.filter(pl.col("date") >= last - dt.timedelta(days=2))["_partition"].max() == last


def test_duplicates_are_adjacent_exact_copies_in_the_same_file(tmp_path: Path) -> None:
    spec = GeneratorSpec(days=10, transactions_per_day=8.0, defects=MANY_DEFECTS)
    info = write_dataset(spec, tmp_path / "ds", rows_per_file=50)
    copies = 0
    for path in _files(tmp_path / "ds"):
        df = pl.read_parquet(path, hive_partitioning=False)
        same_as_prev = pl.all_horizontal(
            (pl.col(c) == pl.col(c).shift(1)) | (pl.col(c).is_null() & pl.col(c).shift(1).is_null())
            for c in df.columns
        )
        n_adjacent = int(df.select(same_as_prev.fill_null(False).sum()).item())
        assert df.height - df.unique().height == n_adjacent
        copies += n_adjacent
    assert copies == info.defect_counts["duplicate"] > 0


def test_defects_look_like_the_described_kinds() -> None:
    df = generate_frame(GeneratorSpec(days=20, file_format="csv", defects=MANY_DEFECTS))
    returns = df.filter(pl.col("revenue") < 0)
    assert (returns["units"] < 0).all()
    nulls = df.filter(pl.col("revenue").is_null())
    assert 0 < nulls["unit_price"].null_count() < nulls.height  # sometimes repairable
    assert nulls["units"].null_count() == 0
    bad = df.filter(pl.col("date").str.to_date("%Y-%m-%d", strict=False).is_null())["date"]
    assert bad.is_in(["", "n/a", "N/A", "2023-13-45", "31/02/2023"]).any()
    odd = set(df["region"].to_list()) - set(GeneratorSpec().regions)
    assert {"", "N/A", "unknown"} & odd
    assert any(v.strip().lower() in GeneratorSpec().regions for v in odd)  # case/space variants


# --- structure ---------------------------------------------------------------------------------


def test_weekend_peak_for_clothing(daily: pl.DataFrame) -> None:
    weekday = pl.col("date").dt.weekday()
    weekend = _mean_units(daily, "clothing", weekday >= 6)
    assert weekend > 1.3 * _mean_units(daily, "clothing", weekday <= 4)


def test_promo_lifts_units_per_transaction(structured: pl.DataFrame) -> None:
    means = structured.group_by("product_type", "promo").agg(pl.col("units").mean())
    for product in ("grocery", "clothing"):
        by_promo = dict(
            means.filter(pl.col("product_type") == product).select("promo", "units").iter_rows()
        )
        assert by_promo[True] > 1.2 * by_promo[False], product


def test_december_electronics_beat_spring(daily: pl.DataFrame) -> None:
    month = pl.col("date").dt.month()
    assert _mean_units(daily, "electronics", month == 12) > 1.5 * _mean_units(
        daily, "electronics", month == 4
    )
    assert _mean_units(daily, "sports", month == 7) > 1.3 * _mean_units(daily, "sports", month == 1)


def test_holidays_lift_electronics_and_lower_grocery(daily: pl.DataFrame) -> None:
    days = {d for d in holidays.country_holidays("US", years=[2023]) if d.month < 12}
    ratios: dict[str, list[float]] = {"grocery": [], "electronics": []}
    for product, values in ratios.items():
        series = dict(
            daily.filter(pl.col("product_type") == product).select("date", "units").iter_rows()
        )
        for day in days:
            same_weekday = [day + dt.timedelta(days=k) for k in (-7, 7)]
            ref = [series[d] for d in same_weekday if d in series and d not in days]
            values.append(series[day] / (sum(ref) / len(ref)))
    assert sum(ratios["grocery"]) / len(days) < 0.8
    assert sum(ratios["electronics"]) / len(days) > 1.15


def test_levels_differ_by_region_and_product(structured: pl.DataFrame) -> None:
    region = structured.group_by("region").agg(pl.col("units").sum())["units"]
    assert region.max() > 1.1 * region.min()  # type: ignore[operator]
    product = structured.group_by("product_type").agg(
        pl.col("revenue").sum(), pl.col("units").sum()
    )
    totals = {r["product_type"]: r for r in product.iter_rows(named=True)}
    assert totals["grocery"]["units"] > 3 * totals["electronics"]["units"]
    assert totals["electronics"]["revenue"] > totals["grocery"]["revenue"]


def test_revenue_is_units_times_price(structured: pl.DataFrame) -> None:
    diff = (pl.col("units") * pl.col("unit_price") - pl.col("revenue")).abs()
    assert structured.select(diff.max()).item() < 0.005


# --- writing -----------------------------------------------------------------------------------


def test_write_dataset_layout_and_marker(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    info = write_dataset(SMALL, root)
    files = _files(root)
    assert all(PART_RE.search(p.relative_to(root).as_posix()) for p in files)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [gen.MARKER]
        + [f"date={dt.date(2023, 1, 1) + dt.timedelta(days=i)}" for i in range(SMALL.days)]
    )
    marker = json.loads((root / gen.MARKER).read_text())
    assert marker["spec"] == SMALL.to_dict()
    assert (
        (marker["rows"], marker["files"])
        == (info.rows, info.files)
        == (_read(root).height, len(files))
    )
    assert info == DatasetInfo(
        str(root), info.rows, len(files), marker["defect_counts"], reused=False
    )
    assert not list(tmp_path.glob(".ds.*"))  # no temp dir left behind


def test_ensure_dataset_reuses_then_regenerates(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    first = ensure_dataset(SMALL, root)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    second = ensure_dataset(SMALL, root)
    assert (first.reused, second.reused) == (False, True)
    assert (second.rows, second.files, second.defect_counts) == (
        first.rows,
        first.files,
        first.defect_counts,
    )
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == mtimes
    changed = replace(SMALL, seed=1)
    third = ensure_dataset(changed, root)
    assert not third.reused
    assert json.loads((root / gen.MARKER).read_text())["spec"]["seed"] == 1


def test_ensure_dataset_regenerates_when_files_are_missing(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    first = ensure_dataset(SMALL, root)
    victim = _files(root)[3]
    victim.unlink()
    again = ensure_dataset(SMALL, root)
    assert not again.reused
    assert victim.exists()
    assert (again.rows, again.files) == (first.rows, first.files)


def test_write_dataset_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    root = tmp_path / "precious"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_dataset(SMALL, root)
    assert (root / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["precious"]


def test_write_dataset_is_day_by_day_with_bounded_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, dt.date, int]] = []
    day_frame, write_partition = gen._day_frame, gen._write_partition

    def spy_day(spec: GeneratorSpec, day: dt.date) -> pl.DataFrame:
        frame = day_frame(spec, day)
        events.append(("generate", day, frame.height))
        return frame

    def spy_write(frame: pl.DataFrame, directory: Path, fmt: str, rows_per_file: int) -> int:
        day = dt.date.fromisoformat(directory.name.removeprefix("date="))
        events.append(("write", day, frame.height))
        return write_partition(frame, directory, fmt, rows_per_file)

    monkeypatch.setattr(gen, "_day_frame", spy_day)
    monkeypatch.setattr(gen, "_write_partition", spy_write)
    spec = GeneratorSpec(days=15, defects=MANY_DEFECTS)
    info = write_dataset(spec, tmp_path / "ds", rows_per_file=40)
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(spec.days)]
    # strictly alternating: nothing is generated ahead of the partition being written
    assert [(kind, day) for kind, day, _ in events] == [
        (k, d) for d in days for k in ("generate", "write")
    ]
    generated = [h for kind, _, h in events if kind == "generate"]
    written = [h for kind, _, h in events if kind == "write"]
    assert max(written) < 1.3 * max(generated)  # one day plus the late rows arriving that day
    assert sum(written) == sum(generated) == info.rows
    per_partition: dict[str, int] = {}
    for path in _files(tmp_path / "ds"):
        per_partition[path.parent.name] = per_partition.get(path.parent.name, 0) + 1
        assert pl.read_parquet(path).height <= 41
    assert min(per_partition.values()) > 1


# --- spec --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", -1),
        ("start", "2023-13-01"),
        ("days", 0),
        ("regions", ()),
        ("product_types", ("toys", "toys")),
        ("stores_per_region", 0),
        ("transactions_per_day", 0.0),
        ("promo_rate", 1.5),
        ("promo_lift", -2.0),
        ("late_max_days", 0),
        ("holiday_country", "XX"),
        ("file_format", "xlsx"),
        ("defects", DefectRates(null_revenue=1.2)),
        ("defects", DefectRates(late=-0.1)),
    ],
)
def test_validate_names_the_bad_field(field: str, value: object) -> None:
    spec = replace(GeneratorSpec(), **{field: value})
    with pytest.raises(ValueError, match=rf"GeneratorSpec\.{field}"):
        spec.validate()


def test_default_spec_is_valid_and_round_trips() -> None:
    spec = GeneratorSpec(product_types=("grocery", "garden"), defects=DefectRates(late=0.02))
    spec.validate()
    d = json.loads(json.dumps(spec.to_dict()))
    assert list(d) == list(GeneratorSpec.__dataclass_fields__)
    assert GeneratorSpec.from_dict(d) == spec
    with pytest.raises(ValueError, match="unknown keys"):
        GeneratorSpec.from_dict({**d, "colour": "red"})


def test_unknown_product_type_gets_a_profile() -> None:
    spec = GeneratorSpec(days=5, product_types=("grocery", "garden"))
    assert set(generate_frame(spec)["product_type"]) >= {"grocery", "garden"}


def test_for_rows_hits_the_target() -> None:
    spec = GeneratorSpec.for_rows(20_000, days=30, seed=3)
    assert (spec.days, spec.seed, spec.stores_per_region) == (30, 3, 3)
    assert abs(generate_frame(spec).height / 20_000 - 1) < 0.05
    big = GeneratorSpec.for_rows(10_000_000)
    assert big.stores_per_region > 3
    assert big.transactions_per_day <= 1.1 * gen._MAX_TPD
    assert abs(expected_rows(big) / 10_000_000 - 1) < 0.001


def test_cli_writes_then_reuses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tasks.data.sources.generate")
    out = tmp_path / "cli"
    args = ["--out", str(out), "--rows", "2e3", "--days", "5", "--format", "csv"]
    assert gen.main(args) == 0
    marker = json.loads((out / gen.MARKER).read_text())
    assert marker["spec"]["file_format"] == "csv"
    assert _files(out, "csv")
    caplog.clear()
    assert gen.main(args) == 0
    assert "Reusing" in caplog.text
