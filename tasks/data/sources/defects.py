"""Defect injection for the synthetic sales generator (used by :mod:`tasks.data.sources.generate`).

Every function here is pure given its ``numpy.random.Generator``: the same
inputs and rng state always produce the same defects.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import polars as pl

DEFECT_NAMES = (
    "null_revenue",
    "negative_revenue",
    "duplicate",
    "bad_date",
    "unknown_category",
    "late",
)
_BAD_DATES = (
    "",
    "n/a",
    "N/A",
    "????-??-??",
    "{y}-13-45",
    "31/02/{y}",
    "{y}-02-30",
    "{y}-00-{d:02d}",
)
_N_VARIANTS = 8  # number of expressions in `_bad_category`
_NULL, _NEGATIVE, _UNKNOWN, _BAD_DATE = 0, 1, 2, 3


@dataclass(frozen=True)
class DefectRates:
    """Fractions of rows that carry each kind of defect (each in ``[0, 1)``).

    ``null_revenue``, ``negative_revenue``, ``unknown_category`` and ``bad_date``
    are mutually exclusive per generated row; ``duplicate`` and ``late`` are
    drawn independently. ``bad_date`` only applies to CSV output.
    """

    null_revenue: float = 0.004
    negative_revenue: float = 0.003
    duplicate: float = 0.003
    bad_date: float = 0.002
    unknown_category: float = 0.002
    late: float = 0.01

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first rate outside ``[0, 1)``."""
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 <= value < 1.0
            ):
                raise ValueError(
                    f"GeneratorSpec.defects.{f.name} must be a fraction in [0, 1), got {value!r}"
                )
        exclusive = (
            self.null_revenue + self.negative_revenue + self.unknown_category + self.bad_date
        )
        if exclusive >= 1.0:
            raise ValueError(
                "GeneratorSpec.defects: null_revenue + negative_revenue + unknown_category"
                f" + bad_date must be < 1, got {exclusive!r}"
            )


def _bad_category(column: str, known: Sequence[str]) -> pl.Expr:
    """Expression picking (by column ``_pick``) a value of ``column`` that is not in ``known``."""
    c, pick = pl.col(column), pl.col("_pick")
    variants = [
        pl.lit(""),
        pl.lit("N/A"),
        pl.lit("unknown"),
        c.str.to_uppercase(),
        c.str.to_titlecase(),
        pl.lit(" ") + c,
        c + pl.lit(" "),
        c.str.slice(0, 1) + c.str.slice(2),  # misspelling: drop the 2nd character
    ]
    chosen: pl.Expr = pl.lit("unknown")
    for i, variant in enumerate(variants):
        chosen = pl.when(pick == i).then(variant).otherwise(chosen)
    return pl.when(chosen.is_in(list(known))).then(pl.lit("unknown")).otherwise(chosen)


def inject_row_defects(
    frame: pl.DataFrame,
    rng: np.random.Generator,
    rates: DefectRates,
    *,
    day: dt.date,
    csv: bool,
    regions: Sequence[str],
    product_types: Sequence[str],
) -> pl.DataFrame:
    """Apply the mutually exclusive per-row defects to one day's clean frame.

    Parameters
    ----------
    frame
        Clean transactions of ``day`` (raw contract columns).
    rng
        Generator of the day; consumed by a fixed number of draws per row.
    rates
        Defect rates.
    day
        True date of the rows (used to build unparsable date strings).
    csv
        Whether the ``date`` column is a string (bad dates are only injected then).
    regions, product_types
        Known category values; injected categories never belong to them.

    Returns
    -------
    polars.DataFrame
        Same rows and columns, with null/negative revenue, unknown categories
        and (CSV only) unparsable dates.
    """
    n = frame.height
    edges = np.cumsum(
        [
            rates.null_revenue,
            rates.negative_revenue,
            rates.unknown_category,
            rates.bad_date if csv else 0.0,
        ]
    )
    kind = np.searchsorted(edges, rng.random(n), side="right")
    price_too = rng.random(n) < 0.5
    region_side = rng.random(n) < 0.5
    pick = rng.integers(0, _N_VARIANTS, n)
    bad_dates = [s.format(y=day.year, d=day.day) for s in _BAD_DATES]
    bad_date = pl.Series(bad_dates, dtype=pl.String).gather(rng.integers(0, len(bad_dates), n))
    return (
        frame.with_columns(
            _kind=pl.Series(kind, dtype=pl.Int8),
            _drop_price=pl.Series(price_too),
            _region=pl.Series(region_side),
            _pick=pl.Series(pick),
            _bad_date=bad_date,
        )
        .with_columns(_defect_exprs(tuple(regions), tuple(product_types), csv))
        .drop("_kind", "_drop_price", "_region", "_pick", "_bad_date")
    )


@functools.lru_cache(maxsize=32)
def _defect_exprs(
    regions: tuple[str, ...], product_types: tuple[str, ...], csv: bool
) -> tuple[pl.Expr, ...]:
    """Expressions applying the defect kind in ``_kind`` (built once: they are day-independent)."""
    k = pl.col("_kind")
    # Also null the price on some null-revenue rows, never on two rows that would then be equal.
    drop_price = (k == _NULL) & pl.col("_drop_price")
    drop_price &= pl.struct("store_id", "product_type", "units", drop_price).is_first_distinct()
    revenue = pl.when(k == _NULL).then(None).when(k == _NEGATIVE).then(-pl.col("revenue"))
    bad_region, bad_product = (
        (k == _UNKNOWN) & pl.col("_region"),
        (k == _UNKNOWN) & ~pl.col("_region"),
    )
    exprs = [
        revenue.otherwise(pl.col("revenue")).alias("revenue"),
        pl.when(k == _NEGATIVE).then(-pl.col("units")).otherwise(pl.col("units")).alias("units"),
        pl.when(drop_price).then(None).otherwise(pl.col("unit_price")).alias("unit_price"),
        pl.when(bad_region)
        .then(_bad_category("region", regions))
        .otherwise(pl.col("region"))
        .alias("region"),
        pl.when(bad_product)
        .then(_bad_category("product_type", product_types))
        .otherwise(pl.col("product_type"))
        .alias("product_type"),
    ]
    if csv:
        exprs.append(
            pl.when(k == _BAD_DATE)
            .then(pl.col("_bad_date"))
            .otherwise(pl.col("date"))
            .alias("date")
        )
    return tuple(exprs)


def add_duplicates_and_arrival(
    frame: pl.DataFrame,
    rng: np.random.Generator,
    rates: DefectRates,
    *,
    day: dt.date,
    last_day: dt.date,
    late_max_days: int,
) -> pl.DataFrame:
    """Insert exact copies right after their originals and assign arrival partitions.

    Returns
    -------
    polars.DataFrame
        ``frame`` plus duplicate rows, with ``_dup`` (True on the inserted copy)
        and ``_partition`` (arrival date, ``pl.Date``; a copy shares its
        original's). Late rows arrive 1..``late_max_days`` days after ``day``,
        clipped to ``last_day``.
    """
    n = frame.height
    duplicated = rng.random(n) < rates.duplicate
    late = rng.random(n) < rates.late
    lag = rng.integers(1, late_max_days + 1, n)
    offset = np.minimum(np.where(late, lag, 0), (last_day - day).days)
    idx = np.repeat(np.arange(n), 1 + duplicated)
    is_copy = np.zeros(idx.size, dtype=bool)
    is_copy[1:] = idx[1:] == idx[:-1]
    arrival = np.datetime64(day, "D") + offset[idx]
    return frame[idx].with_columns(
        _dup=pl.Series(is_copy),
        _partition=pl.Series(arrival, dtype=pl.Date),
    )


def count_defects(
    frame: pl.DataFrame,
    *,
    day: dt.date,
    csv: bool,
    regions: Sequence[str],
    product_types: Sequence[str],
) -> dict[str, int]:
    """Count the rows of one day's frame (with ``_dup``/``_partition``) showing each defect.

    Counts are of output rows, so an exact copy of a defective row counts too.
    """
    bad_date = (pl.col("date") != pl.lit(day.isoformat())).sum() if csv else pl.lit(0)
    unknown = ~pl.col("region").is_in(list(regions)) | ~pl.col("product_type").is_in(
        list(product_types)
    )
    row = frame.select(
        null_revenue=pl.col("revenue").is_null().sum(),
        negative_revenue=(pl.col("revenue") < 0).sum(),
        duplicate=pl.col("_dup").sum(),
        bad_date=bad_date,
        unknown_category=unknown.sum(),
        late=(pl.col("_partition") != pl.lit(day)).sum(),
    ).row(0, named=True)
    return {name: int(row[name] or 0) for name in DEFECT_NAMES}
