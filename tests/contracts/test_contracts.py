"""Data contract: a small generated data set through ingest → clean → aggregate.

The generator reports how many rows carry each defect; every one of them must end up
quarantined under its reason (or repaired, or kept and counted as late), the counts must
reconcile, and the clean and panel frames must pass their schemas.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import pytest

from tasks import chain
from tasks.data import aggregate, clean, ingest
from tasks.data.schemas import CleanDaily, Panel, Quarantine, validate
from tasks.data.sources.generate import (
    DatasetInfo,
    DefectRates,
    GeneratorSpec,
    generate_frame,
    write_dataset,
)
from tests.support import defaults
from tests.support.frames import RAW_SCHEMA as RAW_CONTRACT

KEYS = ["region", "product_type"]
# Five weeks from a Wednesday: the first and last weeks are partial.
BASE = GeneratorSpec(
    seed=7,
    start="2024-01-03",
    days=35,
    regions=("north", "south"),
    product_types=("grocery", "toys"),
    stores_per_region=1,
    transactions_per_day=4.0,
)
RAISED = DefectRates(
    null_revenue=0.05,
    negative_revenue=0.04,
    duplicate=0.06,
    bad_date=0.05,
    unknown_category=0.05,
    late=0.1,
)
DUPLICATES_ONLY = DefectRates(0.0, 0.0, 0.08, 0.0, 0.0, 0.1)


@dataclass(frozen=True)
class Run:
    """One pass of the pure stage functions over a generated data set."""

    spec: GeneratorSpec
    info: DatasetInfo
    params: clean.CleanParams
    raw: pl.DataFrame
    daily: pl.DataFrame
    quarantine: pl.DataFrame
    counts: dict[str, int]
    panel: aggregate.PanelResult


def _run(spec: GeneratorSpec, root: Path) -> Run:
    info = write_dataset(spec, root)
    source = ingest.discover(str(root), spec.file_format, [])
    lf = ingest.scan(source)
    params = defaults.clean(
        series_keys=KEYS,
        allowed_categories={"region": list(spec.regions), "product_type": list(spec.product_types)},
    )
    flagged = clean.flag_rows(lf, params)
    daily, quarantine, counts = pl.collect_all(
        [
            clean.rollup_daily(flagged, KEYS),
            clean.quarantine_rows(flagged, []),
            clean.row_counts(flagged),
        ]
    )
    panel = chain.aggregate(daily, defaults.panel(series_keys=KEYS, frequency="1w"))
    return Run(
        spec, info, params, lf.collect(), daily, quarantine, counts.row(0, named=True), panel
    )


@pytest.fixture(scope="module", params=["parquet", "csv"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    spec = replace(BASE, defects=RAISED, file_format=request.param)
    return _run(spec, tmp_path_factory.mktemp(f"raw-{request.param}") / "data")


@pytest.fixture(scope="module")
def duplicates_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    spec = replace(BASE, defects=DUPLICATES_ONLY)
    return _run(spec, tmp_path_factory.mktemp("raw-dups") / "data")


def _by_reason(run: Run) -> dict[str, int]:
    return clean.reason_counts(run.quarantine)


def test_the_data_set_has_every_defect_it_should(run: Run) -> None:
    """Guard: the rates are high enough that every defect kind is really exercised."""
    expected = {"null_revenue", "negative_revenue", "duplicate", "unknown_category", "late"}
    if run.spec.file_format == "csv":
        expected.add("bad_date")  # the generator only writes bad dates as CSV text
    assert {k for k, n in run.info.defect_counts.items() if n > 0} == expected
    assert min(run.info.defect_counts[k] for k in expected) >= 5


def test_raw_columns_and_types(run: Run) -> None:
    assert dict(run.raw.schema) == RAW_CONTRACT
    assert run.raw.height == run.info.rows
    assert run.raw["arrival_date"].null_count() == 0  # every file sits in a date= folder
    assert run.raw["source_file"].str.starts_with(run.info.root).all()
    assert run.raw["source_file"].n_unique() == run.info.files
    first, last = dt.date(2024, 1, 3), dt.date(2024, 2, 6)
    assert run.raw["date"].drop_nulls().is_between(first, last).all()
    assert run.raw["arrival_date"].is_between(first, last).all()


def test_ingest_reads_exactly_the_generated_rows(run: Run) -> None:
    generated = generate_frame(run.spec)
    expected = generated.select(
        pl.col("date").cast(pl.String).alias("date_raw"),
        "region",
        "product_type",
        "store_id",
        "units",
        "unit_price",
        "revenue",
        "promo",
        pl.col("_partition").alias("arrival_date"),
    )
    got = run.raw.select(expected.columns)

    def norm(frame: pl.DataFrame) -> pl.DataFrame:  # CSV cannot tell "" from a missing value
        return frame.with_columns(pl.col(pl.String).replace("", None)).sort(pl.all())

    assert norm(got).equals(norm(expected))


def test_counts_reconcile(run: Run) -> None:
    c = run.counts
    assert c["rows_in"] == run.info.rows
    assert c["rows_in"] == c["rows_kept"] + c["rows_quarantined"]
    assert run.quarantine.height == c["rows_quarantined"]
    assert int(run.daily["n_rows"].sum()) == c["rows_kept"]
    clean.reconcile(c, run.quarantine, run.daily)


def test_defects_are_quarantined_under_their_reasons(run: Run) -> None:
    by, g = _by_reason(run), run.info.defect_counts
    assert by.get("missing_date", 0) + by.get("unparsable_date", 0) == g["bad_date"]
    assert by.get("missing_key", 0) + by.get("unknown_category", 0) == g["unknown_category"]
    assert by.get("unknown_category", 0) > 0
    assert by.get("negative_revenue", 0) == g["negative_revenue"]
    # A null revenue is repaired from units * unit_price when both are there; a copy of
    # a repaired row is then a duplicate. Every generated null is one of the three.
    dup_of_repaired = run.quarantine.filter(
        (pl.col("reason") == "duplicate") & pl.col("revenue").is_null()
    ).height
    repaired = run.counts["rows_repaired"]
    assert by.get("null_revenue", 0) + repaired + dup_of_repaired == g["null_revenue"]
    assert by.get("null_revenue", 0) > 0
    assert repaired > 0
    # The generator never writes these.
    assert set(by) <= {
        "missing_date",
        "unparsable_date",
        "missing_key",
        "unknown_category",
        "null_revenue",
        "negative_revenue",
        "duplicate",
    }


def test_duplicates_are_quarantined_once_each(run: Run) -> None:
    """Copies of a good row are ``duplicate``; copies of a bad row keep the bad row's reason."""
    by, g = _by_reason(run), run.info.defect_counts
    other = run.quarantine.filter(pl.col("reason") != "duplicate")
    copies_of_bad_rows = other.height - other.unique().height
    assert 0 < by["duplicate"] <= g["duplicate"]
    assert by["duplicate"] + copies_of_bad_rows == g["duplicate"]


def test_duplicates_map_exactly_when_they_are_the_only_defect(duplicates_run: Run) -> None:
    g = duplicates_run.info.defect_counts
    assert g["duplicate"] > 0
    assert _by_reason(duplicates_run) == {"duplicate": g["duplicate"]}
    assert duplicates_run.counts["rows_kept"] == duplicates_run.info.rows - g["duplicate"]
    assert duplicates_run.counts["rows_repaired"] == 0


def test_kept_rows_are_the_distinct_valid_rows(run: Run) -> None:
    """An independent restatement of the cleaning rules, checked against clean's counts."""
    revenue = pl.coalesce("revenue", (pl.col("units") * pl.col("unit_price")).round(2))
    valid = run.raw.filter(
        pl.col("date").is_not_null(),
        pl.col("region").is_in(list(run.spec.regions)),
        pl.col("product_type").is_in(list(run.spec.product_types)),
        revenue.is_not_null() & (revenue >= 0),
    )
    distinct = valid.drop("source_file", "arrival_date").unique()
    assert run.counts["rows_kept"] == distinct.height
    assert run.daily["revenue"].sum() == pytest.approx(
        distinct.select(revenue.sum()).item(), rel=1e-12
    )


def test_late_rows_are_kept_and_counted(run: Run) -> None:
    late_in_raw = run.raw.filter(pl.col("date") < pl.col("arrival_date")).height
    g = run.info.defect_counts["late"]
    if run.spec.file_format == "parquet":
        assert late_in_raw == g
    else:  # a late row whose date is unparsable cannot be seen as late
        assert g - run.info.defect_counts["bad_date"] <= late_in_raw <= g
    tolerance = run.params.late_tolerance_days
    beyond = run.raw.filter(
        (pl.col("arrival_date") - pl.col("date")).dt.total_days() > tolerance
    ).height
    assert 0 < run.counts["rows_late"] <= beyond
    assert "future_date" not in _by_reason(run)


def test_clean_frames_pass_their_schemas(run: Run) -> None:
    validate(run.daily, CleanDaily, stage="clean", source=run.info.root, keys=KEYS)
    validate(run.quarantine, Quarantine, stage="clean", source=run.info.root, unique_on_keys=False)
    assert run.quarantine["source_file"].null_count() == 0


def test_panel_contract(run: Run) -> None:
    result = run.panel
    panel = validate(result.panel, Panel, stage="aggregate", source="clean", keys=KEYS)
    assert result.incomplete_periods_dropped == [dt.date(2024, 1, 1), dt.date(2024, 2, 5)]
    mondays = [dt.date(2024, 1, 8) + dt.timedelta(weeks=i) for i in range(4)]
    series = panel.select(KEYS).unique()
    assert series.height == 4
    assert panel.select(*KEYS, "date").is_unique().all()
    for (region, product), group in panel.group_by(KEYS):
        assert group.sort("date")["date"].to_list() == mondays, (region, product)
    complete = run.daily.filter(
        pl.col("date").is_between(mondays[0], mondays[-1] + dt.timedelta(6))
    )
    assert panel["revenue"].sum() == pytest.approx(complete["revenue"].sum(), rel=1e-12)
    assert panel["n_rows"].sum() == complete["n_rows"].sum()
