"""Rewrite the golden feature file on purpose.

``tests/unit/model/test_features.py::test_build_features_matches_the_golden_file`` feeds
``features_input.csv`` (2 series x 40 days, hand-made) through ``build_features`` with
``GOLDEN_SPEC`` and compares the result, exactly, with ``features_expected.csv``. The test
never writes either file. When a change to ``tasks/model/features.py`` is *meant* to change the
features, run (from the repository root)::

    .venv/bin/python tests/golden/regenerate.py            # rewrite features_expected.csv
    .venv/bin/python tests/golden/regenerate.py --input    # also rewrite features_input.csv

then review ``git diff tests/golden/`` row by row (recompute a few lags and windows by hand)
before committing: the diff *is* the behaviour change. ``--input`` rebuilds the input from
the formulas in :func:`make_input`; it should only be needed when the input itself changes.

The spec, the input schema and the file paths live here only; the test imports them.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import polars as pl

from tasks.model.features import FeatureSpec, build_features

HERE = Path(__file__).resolve().parent
INPUT = HERE / "features_input.csv"
EXPECTED = HERE / "features_expected.csv"

GOLDEN_SPEC = FeatureSpec(
    frequency="1d",
    series_keys=["region", "product_type"],
    lags=[1, 2, 7],
    window_sizes=[3, 7],
    categorical_columns=["region", "product_type"],
    calendar=True,
    holiday_country="US",
    use_promo=True,
    normalize=True,
)
INPUT_SCHEMA = {
    "region": pl.String,
    "product_type": pl.String,
    "date": pl.Date,
    "revenue": pl.Float64,
    "promo": pl.Float64,
}


def make_input() -> pl.DataFrame:
    """Two 40-day series over Juneteenth and July 4 2024, with a zero, a gap and promos.

    north/toys: 2024-06-10..2024-07-19, revenue 100 + 10 * (i % 7) + i, promo 1 on days
    20-23, 0.5 on day 5, missing (null) on day 30.
    south/home: 2024-06-12..2024-07-21, revenue 50 + 3 * i, 0 on day 10, missing on day 20,
    no promo.
    """
    n = 40
    a_start, b_start = dt.date(2024, 6, 10), dt.date(2024, 6, 12)
    a_promo: list[float | None] = [
        1.0 if 20 <= i <= 23 else 0.5 if i == 5 else None if i == 30 else 0.0 for i in range(n)
    ]
    b_revenue: list[float | None] = [
        0.0 if i == 10 else None if i == 20 else 50.0 + 3 * i for i in range(n)
    ]
    a = pl.DataFrame(
        {
            "region": ["north"] * n,
            "product_type": ["toys"] * n,
            "date": [a_start + dt.timedelta(days=i) for i in range(n)],
            "revenue": [100.0 + 10 * (i % 7) + i for i in range(n)],
            "promo": a_promo,
        },
        schema=INPUT_SCHEMA,
    )
    b = pl.DataFrame(
        {
            "region": ["south"] * n,
            "product_type": ["home"] * n,
            "date": [b_start + dt.timedelta(days=i) for i in range(n)],
            "revenue": b_revenue,
            "promo": [0.0] * n,
        },
        schema=INPUT_SCHEMA,
    )
    # Interleaved by date, so the golden output also checks that rows come back sorted.
    return pl.concat([a, b]).sort("date", "region")


def main() -> None:
    """Rewrite ``features_expected.csv`` (and, with ``--input``, ``features_input.csv``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", action="store_true", help="also rewrite features_input.csv")
    args = parser.parse_args()
    if args.input:
        make_input().write_csv(INPUT)
    panel = pl.read_csv(INPUT, schema=INPUT_SCHEMA)
    build_features(panel, GOLDEN_SPEC).write_csv(EXPECTED)


if __name__ == "__main__":
    main()
