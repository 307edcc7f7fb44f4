"""Ingest: find and fingerprint raw files, check their columns, and build one lazy scan.

The scan is never collected here: cleaning pushes its filters and the daily roll-up into
it, so the raw set is streamed, not materialised. Hive folders such as ``date=2024-05-01/``
are read as the *arrival* date of the rows in them; a row's own ``date`` column always wins.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tasks import storage
from tasks.errors import DataError
from tasks.data.schemas import RawSales

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


MAX_LISTED = 20  # files named one by one in an error; the rest are counted


class RawSchemaError(DataError):
    """Raw files do not carry the required columns."""

    fix = "add the missing columns to those files, or move them out of data.input_path"


class UnreadableFilesError(DataError):
    """Raw files that cannot be read at all: empty, truncated, corrupt, or not readable."""

    fix = "replace or remove those files (or move them out of data.input_path), then run again"


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


def _schema_or_reason(path: str, settings: storage.StorageSettings | None) -> pl.Schema | str:
    """A file's schema, or why it cannot be read (transient and storage errors propagate)."""
    try:
        return file_schema(path, format_of(path), settings)
    except storage.StorageError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        if storage.is_transient_error(exc):
            raise
        return unreadable_reason(path, exc)


def unreadable_reason(path: str, exc: BaseException) -> str:
    """Why ``path`` could not be read, in a few words (``empty file (0 bytes)``, ...)."""
    if not storage.is_remote(path) and Path(path).is_file() and Path(path).stat().st_size == 0:
        return "empty file (0 bytes)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    first = str(exc).strip().split("\n", 1)[0]
    return f"{type(exc).__name__}: {first[:200]}"


def _schemas(files: list[str], settings: storage.StorageSettings | None) -> list[pl.Schema | str]:
    """Each file's schema (or why it is unreadable), in order; remote ones concurrently."""
    if not files or not storage.is_remote(files[0]):
        return [_schema_or_reason(f, settings) for f in files]
    with ThreadPoolExecutor(max_workers=REMOTE_SCHEMA_WORKERS) as pool:
        return list(pool.map(lambda f: _schema_or_reason(f, settings), files))


def listed(problems: list[str]) -> str:
    """Problem lines, one per file, the first :data:`MAX_LISTED` of them and a count."""
    shown = "\n  ".join(problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return f"\n  {shown}" + (f"\n  ... and {more} more" if more > 0 else "")


def raise_unreadable(input_path: str, total: int, reasons: dict[str, str]) -> None:
    """Raise :class:`UnreadableFilesError` naming each unreadable file and why."""
    if reasons:
        raise UnreadableFilesError(
            f"ingest: {len(reasons)} of {total} file(s) under {input_path!r} cannot be read:"
            + listed([f"{path}: {why}" for path, why in reasons.items()]),
            where=next(iter(reasons)),
        )


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
    UnreadableFilesError
        Listing every file whose footer or header cannot be read (empty, truncated...).
    """
    fps = storage.list_fingerprints(input_path, file_format, settings=settings)
    files = [fp.path for fp in fps]
    schemas = _schemas(files, settings)
    raise_unreadable(
        input_path,
        len(files),
        {f: s for f, s in zip(files, schemas, strict=True) if isinstance(s, str)},
    )
    # Files are grouped by names *and* types: one parquet scan cannot mix a Date and a
    # String ``date`` (or Int64 and Float64 revenue); normalize casts each group alike.
    layouts: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    problems: list[str] = []
    for path, schema in zip(files, schemas, strict=True):
        assert isinstance(schema, pl.Schema)
        fmt = format_of(path)
        cols = schema.names()
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            problems.append(f"{path}: missing {missing} (has {cols})")
        layout = tuple((name, str(dtype)) for name, dtype in schema.items())
        layouts.setdefault((fmt, layout), []).append(path)
    if problems:
        raise RawSchemaError(
            f"ingest: {len(problems)} of {len(files)} file(s) under {input_path!r} lack required "
            f"columns {list(REQUIRED_COLUMNS)}:{listed(problems)}"
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


def _typed(name: str, schema: pl.Schema, dtype: pl.DataType) -> pl.Expr:
    """``name`` as ``dtype``: as it is when the file already has that type, else via its text
    (unparsable values become null)."""
    if schema[name] == dtype:
        return pl.col(name)
    text = pl.col(name).cast(pl.String).str.strip_chars()
    if dtype == pl.Float64():
        return text.cast(pl.Float64, strict=False)
    return text.cast(pl.Float64, strict=False).cast(dtype, strict=False)


def _date(schema: pl.Schema) -> pl.Expr:
    """The typed date: a ``Date`` column as it is, a naive datetime's day, else parsed text."""
    dtype = schema["date"]
    if dtype == pl.Date():
        return pl.col("date")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return pl.col("date").dt.date()
    return parse_date(pl.col("date").cast(pl.String))


def arrival_dates(files: list[str]) -> pl.Expr:
    """Each row's arrival date (its ``date=YYYY-MM-DD`` folder), looked up per file.

    The folder is parsed once per file, not once per row: the row's source path is mapped
    to its file's position in ``files`` (an Enum cast, which fails loudly on a path that is
    not one of them) and the file's date is gathered from there.
    """
    found = [re.search(_ARRIVAL_PATTERN, f) for f in files]
    dates = [dt.date.fromisoformat(m.group(1)) if m else None for m in found]
    table = pl.Series(ARRIVAL_COLUMN, dates, dtype=pl.Date)
    position = pl.col(SOURCE_COLUMN).cast(pl.Enum(files)).to_physical()
    return pl.lit(table).gather(position)


def normalize(
    lf: pl.LazyFrame, schema: pl.Schema, extra: list[str], files: list[str]
) -> pl.LazyFrame:
    """Cast one file group to the raw contract: typed columns plus the date as it arrived.

    Columns that already have the contract's type are taken as they are; others are read
    through their text, and unparsable values become null in the typed column. The
    original date text stays in ``date_raw`` so quarantine can show what arrived.
    """
    exprs: list[pl.Expr] = [
        pl.col("date").cast(pl.String).alias(RAW_DATE_COLUMN),
        _date(schema).alias("date"),
        pl.col("region").cast(pl.String),
        pl.col("product_type").cast(pl.String),
        _typed("revenue", schema, pl.Float64()).alias("revenue"),
    ]
    for name, dtype in OPTIONAL_COLUMNS.items():
        if name not in schema:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif dtype == pl.Boolean() and schema[name] != dtype:
            exprs.append(pl.col(name).cast(pl.String).str.to_lowercase().is_in(_TRUE_STRINGS))
        elif dtype == pl.String():
            exprs.append(pl.col(name).cast(pl.String))
        else:
            exprs.append(_typed(name, schema, dtype).alias(name))
    exprs += [pl.col(c).cast(pl.String) for c in extra if c in schema]
    exprs += [pl.lit(None, dtype=pl.String).alias(c) for c in extra if c not in schema]
    exprs.append(pl.col(SOURCE_COLUMN))
    return lf.select(*exprs, arrival_dates(files).alias(ARRIVAL_COLUMN))


def scan(source: RawSource, settings: storage.StorageSettings | None = None) -> pl.LazyFrame:
    """One lazy frame over every raw file, normalised to the raw contract.

    Collect it inside ``storage.io_errors(source.input_path)`` so that an object-store
    failure names its bucket and key and says whether it is transient.
    """
    with storage.io_errors(source.input_path):
        parts = []
        for g in source.groups:
            lf = _scan_group(g, settings)
            parts.append(normalize(lf, lf.collect_schema(), source.extra_columns, g.files))
        lf = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
        RawSales.validate(lf)  # schema-level on a LazyFrame: columns and types, no data pass
    return lf


def unreadable_files(
    source: RawSource, settings: storage.StorageSettings | None = None
) -> dict[str, str]:
    """Files whose rows cannot be decoded (corrupt pages, ragged CSV lines) and why.

    Reads every file on its own, so it is only called once reading them together failed.
    """
    reasons: dict[str, str] = {}
    for group in source.groups:
        for path in group.files:
            options = storage.polars_storage_options(path, settings)
            lf = (
                pl.scan_parquet(path, storage_options=options)
                if group.file_format == "parquet"
                else pl.scan_csv(path, infer_schema=False, storage_options=options)
            )
            try:
                lf.select(pl.all().null_count()).collect(engine="streaming")
            except (pl.exceptions.PolarsError, OSError) as exc:
                if storage.is_transient_error(exc):
                    raise
                reasons[path] = unreadable_reason(path, exc)
    return reasons


def read_promo_plan(
    path: str, series_keys: list[str], settings: storage.StorageSettings | None = None
) -> pl.DataFrame:
    """Planned promotions (series keys, date, promo share 0..1) from a parquet or CSV file."""
    data = storage.read_bytes(path, settings=settings)
    frame = pl.read_parquet(data) if path.endswith(".parquet") else pl.read_csv(data)
    missing = [c for c in [*series_keys, "date", "promo"] if c not in frame.columns]
    if missing:
        raise RawSchemaError(
            f"forecast.promo_plan_path={path!r} lacks columns {missing}",
            fix="add those columns to the file, or set forecast.promo_plan_path=null",
        )
    return frame.select(
        *[pl.col(k).cast(pl.String) for k in series_keys],
        pl.col("date").cast(pl.String).str.to_date("%Y-%m-%d"),
        pl.col("promo").cast(pl.Float64),
    )
