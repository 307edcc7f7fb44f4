"""Ingest: find and fingerprint raw files, check their columns, and build one lazy scan.

The scan is never collected here: cleaning pushes its filters and the daily roll-up into
it, so the raw set is streamed, not materialised. Hive folders such as ``date=2024-05-01/``
are read as the *arrival* date of the rows in them; a row's own ``date`` column always wins.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from tasks import storage
from tasks.schemas import RawSales

REQUIRED_COLUMNS = ("date", "region", "product_type", "revenue")
OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    "store_id": pl.String(),
    "units": pl.Int64(),
    "unit_price": pl.Float64(),
    "promo": pl.Boolean(),
}
SOURCE_COLUMN = "source_file"
ARRIVAL_COLUMN = "arrival_date"
RAW_DATE_COLUMN = "date_raw"
_ARRIVAL_PATTERN = r"date=(\d{4}-\d{2}-\d{2})"
_TRUE_STRINGS = ["true", "t", "1", "yes", "y"]
REMOTE_SCHEMA_WORKERS = 16  # concurrent footer/header reads when listing an object store


class RawSchemaError(ValueError):
    """Raw files do not carry the required columns."""


@dataclass(frozen=True)
class FileGroup:
    """Files of one format that share a column layout, scanned together."""

    file_format: str
    files: list[str]
    columns: list[str]


@dataclass(frozen=True)
class RawSource:
    """What ingest found: the files, their fingerprints and column layout (no data)."""

    input_path: str
    groups: list[FileGroup]
    fingerprints: list[dict[str, object]]
    digest: str
    extra_columns: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """Every file, in scan order."""
        return [f for g in self.groups for f in g.files]


def file_schema(
    path: str, file_format: str, settings: storage.StorageSettings | None = None
) -> pl.Schema:
    """Column names and types of one file, from its footer or header only (CSV: all text)."""
    options = storage.polars_storage_options(path, settings)
    with storage.io_errors(path):
        if file_format == "parquet":
            return pl.scan_parquet(path, storage_options=options).collect_schema()
        return pl.scan_csv(
            path, infer_schema=False, n_rows=0, storage_options=options
        ).collect_schema()


def file_columns(
    path: str, file_format: str, settings: storage.StorageSettings | None = None
) -> list[str]:
    """Column names of one file, from its footer or header only."""
    return file_schema(path, file_format, settings).names()


def _schemas(files: list[str], settings: storage.StorageSettings | None) -> list[pl.Schema]:
    """Each file's schema, in order; remote footers/headers are fetched concurrently."""
    if not files or not storage.is_remote(files[0]):
        return [file_schema(f, format_of(f), settings) for f in files]
    with ThreadPoolExecutor(max_workers=REMOTE_SCHEMA_WORKERS) as pool:
        return list(pool.map(lambda f: file_schema(f, format_of(f), settings), files))


def format_of(path: str) -> str:
    """``parquet`` or ``csv`` from a file's suffix."""
    return "parquet" if path.endswith(".parquet") else "csv"


def discover(
    input_path: str,
    file_format: str,
    wanted_extra: list[str],
    settings: storage.StorageSettings | None = None,
) -> RawSource:
    """List, fingerprint and check the raw files under ``input_path`` (local or ``s3://``).

    ``settings`` say how to reach object storage; they are not kept in the result (which
    is persisted as a cached task result and must stay free of anything machine-specific).

    Raises
    ------
    RawSchemaError
        Listing every file that lacks a required column, and which column.
    """
    fps = storage.list_fingerprints(input_path, file_format, settings=settings)
    files = [fp.path for fp in fps]
    # Files are grouped by names *and* types: one parquet scan cannot mix a Date and a
    # String ``date`` (or Int64 and Float64 revenue); normalize casts each group alike.
    layouts: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    problems: list[str] = []
    for path, schema in zip(files, _schemas(files, settings), strict=True):
        fmt = format_of(path)
        cols = schema.names()
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            problems.append(f"{path}: missing {missing} (has {cols})")
        layout = tuple((name, str(dtype)) for name, dtype in schema.items())
        layouts.setdefault((fmt, layout), []).append(path)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise RawSchemaError(
            f"ingest: {len(problems)} of {len(files)} file(s) under {input_path!r} lack required "
            f"columns {list(REQUIRED_COLUMNS)}:\n  {shown}{more}"
        )
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    all_cols = {c for (_, layout) in layouts for c, _ in layout}
    groups = [
        FileGroup(fmt, paths, [c for c, _ in layout]) for (fmt, layout), paths in layouts.items()
    ]
    return RawSource(
        input_path=input_path,
        groups=groups,
        fingerprints=[fp.to_dict() for fp in fps],
        digest=storage.digest_fingerprints(fps),
        extra_columns=sorted(c for c in all_cols - known if c in wanted_extra),
    )


def _scan_group(group: FileGroup, settings: storage.StorageSettings | None) -> pl.LazyFrame:
    """Polars' native reader, local or cloud: predicates and projections are pushed down
    (parquet row groups are skipped on their statistics, only needed columns are fetched)."""
    options = storage.polars_storage_options(group.files[0], settings)
    if group.file_format == "parquet":
        return pl.scan_parquet(
            group.files,
            hive_partitioning=False,
            include_file_paths=SOURCE_COLUMN,
            storage_options=options,
        )
    return pl.scan_csv(
        group.files,
        infer_schema=False,
        include_file_paths=SOURCE_COLUMN,
        storage_options=options,
    )


def parse_date(text: pl.Expr) -> pl.Expr:
    """ISO dates, or ISO date-times (as pandas writes them) truncated to their date."""
    text = text.str.strip_chars()
    return pl.coalesce(
        text.str.to_date("%Y-%m-%d", strict=False),
        text.str.to_datetime(strict=False, time_unit="us").dt.date(),
    )


def normalize(lf: pl.LazyFrame, columns: list[str], extra: list[str]) -> pl.LazyFrame:
    """Cast one file group to the raw contract: typed columns plus the date as it arrived.

    Unparsable values become null in the typed column; the original text stays in
    ``date_raw`` (dates) so quarantine can show what arrived.
    """
    date_text = pl.col("date").cast(pl.String)
    exprs: list[pl.Expr] = [
        date_text.alias(RAW_DATE_COLUMN),
        parse_date(date_text).alias("date"),
        pl.col("region").cast(pl.String),
        pl.col("product_type").cast(pl.String),
        pl.col("revenue").cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False),
    ]
    for name, dtype in OPTIONAL_COLUMNS.items():
        if name not in columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif dtype == pl.Boolean():
            exprs.append(pl.col(name).cast(pl.String).str.to_lowercase().is_in(_TRUE_STRINGS))
        elif dtype == pl.String():
            exprs.append(pl.col(name).cast(pl.String))
        else:
            text = pl.col(name).cast(pl.String).str.strip_chars()
            exprs.append(text.cast(pl.Float64, strict=False).cast(dtype, strict=False).alias(name))
    exprs += [pl.col(c).cast(pl.String) for c in extra if c in columns]
    exprs += [pl.lit(None, dtype=pl.String).alias(c) for c in extra if c not in columns]
    exprs.append(pl.col(SOURCE_COLUMN))
    arrival = pl.col(SOURCE_COLUMN).str.extract(_ARRIVAL_PATTERN, 1).str.to_date(strict=False)
    return lf.select(*exprs, arrival.alias(ARRIVAL_COLUMN))


def scan(source: RawSource, settings: storage.StorageSettings | None = None) -> pl.LazyFrame:
    """One lazy frame over every raw file, normalised to the raw contract.

    Collect it inside ``storage.io_errors(source.input_path)`` so that an object-store
    failure names its bucket and key and says whether it is transient.
    """
    parts = [
        normalize(_scan_group(g, settings), g.columns, source.extra_columns) for g in source.groups
    ]
    lf = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    with storage.io_errors(source.input_path):
        RawSales.validate(lf)  # schema-level on a LazyFrame: columns and types, no data pass
    return lf


def read_promo_plan(
    path: str, series_keys: list[str], settings: storage.StorageSettings | None = None
) -> pl.DataFrame:
    """Planned promotions (series keys, date, promo share 0..1) from a parquet or CSV file."""
    data = storage.read_bytes(path, settings=settings)
    frame = pl.read_parquet(data) if path.endswith(".parquet") else pl.read_csv(data)
    missing = [c for c in [*series_keys, "date", "promo"] if c not in frame.columns]
    if missing:
        raise RawSchemaError(f"forecast.promo_plan_path={path!r} lacks columns {missing}")
    return frame.select(
        *[pl.col(k).cast(pl.String) for k in series_keys],
        pl.col("date").cast(pl.String).str.to_date("%Y-%m-%d"),
        pl.col("promo").cast(pl.Float64),
    )
