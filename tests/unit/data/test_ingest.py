"""Unit tests for tasks.data.ingest: discovery, fingerprints, lazy normalised scan, schema errors."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from tasks import storage
from tasks.data import ingest
from tasks.data.ingest import RawSchemaError
from tasks.storage import InputNotFoundError
from tests.support.frames import RAW_SCHEMA as CONTRACT

D = dt.date
CSV_TEXT = (
    "date,region,product_type,revenue,units,unit_price,promo,channel\n"
    "2024-01-02,north,toys, 7.5 ,3,2.5,yes,web\n"
    "31/02/2024,south,toys,1.0,1,1.0,FALSE,shop\n"
    ",south,toys,abc,x,,,shop\n"
)


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """Hive folders by arrival date: full parquet, parquet without units (with a late row),
    a CSV with text values and an extra column, and unreadable litter in hidden files."""
    root = tmp_path / "raw"
    d1, d2 = root / "date=2024-01-01", root / "date=2024-01-02"
    d1.mkdir(parents=True)
    d2.mkdir(parents=True)
    pl.DataFrame(
        {
            "date": [D(2024, 1, 1), D(2024, 1, 1)],
            "store_id": ["S1", "S2"],
            "region": ["north", "south"],
            "product_type": ["toys", "toys"],
            "units": [2, 1],
            "unit_price": [5.0, 4.0],
            "revenue": [10.0, 4.0],
            "promo": [True, False],
        }
    ).write_parquet(d1 / "part-0.parquet")
    pl.DataFrame(
        {
            "date": [D(2024, 1, 2), D(2023, 12, 30)],  # the second row arrived late
            "region": ["north", "north"],
            "product_type": ["toys", "games"],
            "revenue": [3.0, 6.0],
        }
    ).write_parquet(d2 / "part-0.parquet")
    (d2 / "part-1.csv").write_text(CSV_TEXT)
    for litter in ("_SUCCESS", "_part-9.parquet", ".part-0.parquet.crc", ".part-7.csv"):
        (d1 / litter).write_bytes(b"not a data file")
    (root / "_temporary").mkdir()
    (root / "_temporary" / "part-0.parquet").write_bytes(b"half-written")
    return root


@pytest.fixture
def rows(raw_dir: Path) -> pl.DataFrame:
    source = ingest.discover(str(raw_dir), "auto", ["channel"])
    return ingest.scan(source).collect().sort("source_file", "date_raw", nulls_last=True)


def _row(frame: pl.DataFrame, **where: object) -> dict[str, object]:
    hit = frame.filter(*[pl.col(k) == v for k, v in where.items()])
    assert hit.height == 1, hit
    return hit.row(0, named=True)


def test_discover_finds_files_groups_and_fingerprints(raw_dir: Path) -> None:
    source = ingest.discover(str(raw_dir), "auto", [])
    expected = storage.list_data_files(str(raw_dir))
    assert sorted(source.files) == expected
    assert len(expected) == 3  # hidden files and folders are not read
    assert [fp["path"] for fp in source.fingerprints] == expected
    assert [fp["size"] for fp in source.fingerprints] == [os.path.getsize(f) for f in expected]
    assert source.digest == storage.digest_fingerprints(storage.fingerprints(expected))
    layouts = {(g.file_format, tuple(g.columns)) for g in source.groups}
    assert len(layouts) == len(source.groups) == 3
    assert ("parquet", ("date", "region", "product_type", "revenue")) in layouts
    assert source.extra_columns == []


def test_discover_digest_follows_file_changes(raw_dir: Path) -> None:
    before = ingest.discover(str(raw_dir), "auto", []).digest
    assert ingest.discover(str(raw_dir), "auto", []).digest == before
    with (raw_dir / "date=2024-01-02" / "part-1.csv").open("a") as fh:
        fh.write("2024-01-02,north,toys,1.0,1,1.0,no,web\n")
    assert ingest.discover(str(raw_dir), "auto", []).digest != before


def test_scan_is_lazy_and_matches_the_raw_contract(raw_dir: Path) -> None:
    source = ingest.discover(str(raw_dir), "auto", [])
    lf = ingest.scan(source)
    assert isinstance(lf, pl.LazyFrame)
    assert dict(lf.collect_schema()) == CONTRACT
    assert lf.collect().height == 7


def test_arrival_date_comes_from_the_folder_and_the_rows_own_date_wins(
    rows: pl.DataFrame, raw_dir: Path
) -> None:
    late = _row(rows, product_type="games")
    assert late["date"] == D(2023, 12, 30)
    assert late["arrival_date"] == D(2024, 1, 2)
    assert late["source_file"] == str(raw_dir / "date=2024-01-02" / "part-0.parquet")
    on_time = rows.filter(pl.col("source_file").str.contains("date=2024-01-01"))
    assert on_time["arrival_date"].to_list() == [D(2024, 1, 1)] * 2
    assert on_time["date"].to_list() == [D(2024, 1, 1)] * 2


def test_parquet_values_pass_through(rows: pl.DataFrame) -> None:
    row = _row(rows, store_id="S1")
    assert row["date_raw"] == "2024-01-01"
    assert (row["region"], row["product_type"], row["revenue"]) == ("north", "toys", 10.0)
    assert (row["units"], row["unit_price"], row["promo"]) == (2, 5.0, True)


def test_file_without_optional_columns_gets_nulls(rows: pl.DataFrame) -> None:
    no_units = rows.filter(pl.col("source_file").str.ends_with("date=2024-01-02/part-0.parquet"))
    assert no_units.height == 2
    for col in ("units", "unit_price", "promo", "store_id"):
        assert no_units[col].null_count() == 2, col
    assert no_units["revenue"].to_list() == [6.0, 3.0]
    assert rows.filter(pl.col("units").is_not_null()).height == 4  # other files keep theirs


def test_csv_is_read_as_text_and_cast(rows: pl.DataFrame) -> None:
    good = _row(rows, date_raw="2024-01-02", region="north", product_type="toys", units=3)
    assert good["date"] == D(2024, 1, 2)
    assert good["revenue"] == 7.5  # padded text
    assert good["unit_price"] == 2.5
    assert good["promo"] is True  # "yes"
    assert good["channel"] == "web"
    bad_date = _row(rows, date_raw="31/02/2024")
    assert bad_date["date"] is None  # unparsable: null, the text stays in date_raw
    assert bad_date["promo"] is False  # "FALSE"
    assert bad_date["arrival_date"] == D(2024, 1, 2)
    junk = rows.filter(pl.col("date_raw").is_null() | (pl.col("date_raw") == ""))
    assert junk.height == 1
    assert junk.row(0, named=True)["date"] is None
    assert junk.row(0, named=True)["revenue"] is None  # "abc"
    assert junk.row(0, named=True)["units"] is None  # "x"


def test_extra_columns_are_kept_only_when_wanted(raw_dir: Path, rows: pl.DataFrame) -> None:
    assert rows.schema["channel"] == pl.String
    assert rows.filter(pl.col("source_file").str.ends_with(".parquet"))["channel"].null_count() == 4
    plain = ingest.scan(ingest.discover(str(raw_dir), "auto", []))
    assert "channel" not in plain.collect_schema().names()
    unknown = ingest.discover(str(raw_dir), "auto", ["channel", "not_there"])
    assert unknown.extra_columns == ["channel"]


@pytest.mark.parametrize(
    ("pattern", "n_rows"),
    [("{root}/**/*.parquet", 4), ("{root}/date=2024-01-02/*", 5), ("{root}/*/*.csv", 3)],
)
def test_glob_input(raw_dir: Path, pattern: str, n_rows: int) -> None:
    source = ingest.discover(pattern.format(root=raw_dir), "auto", [])
    assert ingest.scan(source).collect().height == n_rows


def test_single_file_input(raw_dir: Path) -> None:
    path = str(raw_dir / "date=2024-01-02" / "part-1.csv")
    source = ingest.discover(path, "auto", [])
    assert source.files == [path]
    frame = ingest.scan(source).collect()
    assert frame.height == 3
    assert frame["arrival_date"].to_list() == [D(2024, 1, 2)] * 3


def test_file_format_restricts_the_files(raw_dir: Path) -> None:
    source = ingest.discover(str(raw_dir), "csv", [])
    assert [g.file_format for g in source.groups] == ["csv"]
    assert ingest.scan(source).collect().height == 3


def test_file_outside_a_hive_folder_has_no_arrival_date(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("date,region,product_type,revenue\n2024-01-01,north,toys,1\n")
    frame = ingest.scan(ingest.discover(str(path), "auto", [])).collect()
    assert frame["arrival_date"].to_list() == [None]
    assert frame["date"].to_list() == [D(2024, 1, 1)]


def test_missing_folder_raises_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no" / "such" / "folder")
    with pytest.raises(InputNotFoundError) as info:
        ingest.discover(missing, "auto", [])
    assert missing in str(info.value)


def test_missing_required_columns_lists_every_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "date=2024-01-01" / "ok.csv"
    no_revenue = tmp_path / "date=2024-01-01" / "no_revenue.parquet"
    no_keys = tmp_path / "date=2024-01-02" / "no_keys.csv"
    for p in (good, no_revenue, no_keys):
        p.parent.mkdir(exist_ok=True)
    good.write_text("date,region,product_type,revenue\n2024-01-01,n,t,1\n")
    pl.DataFrame({"date": [D(2024, 1, 1)], "region": ["n"], "product_type": ["t"]}).write_parquet(
        no_revenue
    )
    no_keys.write_text("date,revenue,units\n2024-01-02,1.0,1\n")
    with pytest.raises(RawSchemaError) as info:
        ingest.discover(str(tmp_path), "auto", [])
    msg = str(info.value)
    assert "2 of 3 file(s)" in msg
    assert f"{no_revenue}: missing ['revenue']" in msg
    assert f"{no_keys}: missing ['region', 'product_type']" in msg
    assert str(good) not in msg


def test_parquet_files_with_different_column_types_are_scanned_together(tmp_path: Path) -> None:
    """``date`` may be a Date or ISO text, revenue an int or a float, file by file."""
    d1, d2 = tmp_path / "date=2024-01-01", tmp_path / "date=2024-01-02"
    d1.mkdir()
    d2.mkdir()
    keys = {"region": ["north"], "product_type": ["toys"]}
    pl.DataFrame({"date": [D(2024, 1, 1)], **keys, "revenue": [1.5]}).write_parquet(
        d1 / "part-0.parquet"
    )
    pl.DataFrame({"date": ["2024-01-02"], **keys, "revenue": [3]}).write_parquet(
        d2 / "part-0.parquet"
    )
    frame = ingest.scan(ingest.discover(str(tmp_path), "auto", [])).collect().sort("date")
    assert frame["date"].to_list() == [D(2024, 1, 1), D(2024, 1, 2)]
    assert frame["revenue"].to_list() == [1.5, 3.0]
    assert frame["date_raw"].to_list() == ["2024-01-01", "2024-01-02"]


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_read_promo_plan(tmp_path: Path, suffix: str) -> None:
    plan = pl.DataFrame(
        {"region": ["north"], "product_type": ["toys"], "date": ["2024-02-01"], "promo": [1]}
    )
    path = tmp_path / f"plan.{suffix}"
    plan.write_parquet(path) if suffix == "parquet" else plan.write_csv(path)
    out = ingest.read_promo_plan(str(path), ["region", "product_type"])
    assert out.schema == pl.Schema(
        {"region": pl.String, "product_type": pl.String, "date": pl.Date, "promo": pl.Float64}
    )
    assert out.row(0) == ("north", "toys", D(2024, 2, 1), 1.0)
    with pytest.raises(RawSchemaError, match=r"\['store_id'\]"):
        ingest.read_promo_plan(str(path), ["region", "store_id"])


def test_datetime_dates_as_pandas_writes_them_are_read_as_dates(tmp_path: Path) -> None:
    folder = tmp_path / "date=2024-01-02"
    folder.mkdir()
    pl.DataFrame(
        {
            "date": [dt.datetime(2024, 1, 2, 0, 0), dt.datetime(2024, 1, 1, 13, 30)],
            "region": ["north", "south"],
            "product_type": ["toys", "toys"],
            "revenue": [1.0, 2.0],
        }
    ).write_parquet(folder / "part-0.parquet")
    source = ingest.discover(str(tmp_path), "auto", [])
    frame = ingest.scan(source).collect()
    assert frame["date"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 1)]


def test_typed_parquet_and_csv_text_normalise_alike(tmp_path: Path) -> None:
    """Typed columns are taken as they are; the same values as text parse to the same."""
    frame = pl.DataFrame(
        {
            "date": [D(2024, 1, 1), D(2024, 1, 2), None],
            "region": ["north", " ", None],
            "product_type": ["toys", "games", "toys"],
            "revenue": [10.25, None, 1e-7],
            "units": [2, None, 3],
            "unit_price": [5.125, 4.0, None],
            "promo": [True, None, False],
            "store_id": ["S1", "S2", None],
        }
    )
    for folder, write in (("date=2024-01-03", "parquet"), ("date=2024-01-04", "csv")):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / f"part-0.{write}"
        frame.write_parquet(path) if write == "parquet" else frame.write_csv(path)
    rows = ingest.scan(ingest.discover(str(tmp_path), "auto", [])).collect()
    parquet, csv = (
        rows.filter(pl.col("source_file").str.ends_with(s)) for s in (".parquet", ".csv")
    )
    values = [c for c in rows.columns if c not in ("source_file", "arrival_date")]
    assert parquet.select(values).equals(csv.select(values))
    assert parquet["arrival_date"].to_list() == [D(2024, 1, 3)] * 3
    assert csv["arrival_date"].to_list() == [D(2024, 1, 4)] * 3


# --- unreadable files are named ------------------------------------------------------------------


def _good_parquet(path: Path, rows: int = 1000) -> bytes:
    pl.DataFrame(
        {
            "date": [D(2024, 1, 1)] * rows,
            "region": ["north"] * rows,
            "product_type": ["toys"] * rows,
            "revenue": [float(i) for i in range(rows)],
        }
    ).write_parquet(path, compression="uncompressed")
    return path.read_bytes()


def test_empty_and_truncated_files_are_all_named_in_one_error(raw_dir: Path) -> None:
    bad = raw_dir / "date=2024-01-03"
    bad.mkdir()
    (bad / "empty.parquet").write_bytes(b"")
    (bad / "empty.csv").write_bytes(b"")
    whole = _good_parquet(bad / "truncated.parquet")
    (bad / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    total = len(storage.list_data_files(str(raw_dir)))
    with pytest.raises(ingest.UnreadableFilesError) as info:
        ingest.discover(str(raw_dir), "auto", [])
    text = info.value.block()
    assert f"ingest: 3 of {total} file(s) under {str(raw_dir)!r} cannot be read" in text
    assert f"{bad / 'empty.parquet'}: empty file (0 bytes)" in text
    assert f"{bad / 'empty.csv'}: empty file (0 bytes)" in text
    assert f"{bad / 'truncated.parquet'}: ComputeError: parquet: File out of specification" in text
    assert "fix: replace or remove those files" in text
    assert "date=2024-01-01" not in text  # the readable files are not listed
    assert isinstance(info.value, ValueError)  # a data error: never retried


def test_a_long_list_of_unreadable_files_is_capped(tmp_path: Path) -> None:
    for i in range(25):
        (tmp_path / f"part-{i:02d}.parquet").write_bytes(b"")
    with pytest.raises(ingest.UnreadableFilesError) as info:
        ingest.discover(str(tmp_path), "auto", [])
    assert "25 of 25 file(s)" in str(info.value)
    assert "... and 5 more" in str(info.value)
    assert len(info.value.block().splitlines()) < 30


def test_a_corrupt_data_page_is_found_by_reading_each_file(raw_dir: Path) -> None:
    corrupt = raw_dir / "date=2024-01-03" / "corrupt.parquet"
    corrupt.parent.mkdir()
    data = bytearray(_good_parquet(corrupt))
    data[200:4000] = b"\xff" * 3800  # pages overwritten; the footer is intact
    corrupt.write_bytes(bytes(data))
    source = ingest.discover(str(raw_dir), "auto", [])  # footers read fine
    with pytest.raises(pl.exceptions.ComputeError):
        ingest.scan(source).collect()
    reasons = ingest.unreadable_files(source)
    assert list(reasons) == [str(corrupt)]
    assert reasons[str(corrupt)].startswith("ComputeError: parquet: File out of specification")
