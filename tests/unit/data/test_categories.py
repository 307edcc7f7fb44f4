"""Category normalisation: one spelling per value, aliases, counted, raw values quarantined."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from tasks.data import clean
from tasks.data.categories import fold_text
from tasks.data.clean import CleanParams
from tests.support import defaults
from tests.support.pipeline import app_config

RawRows = Callable[..., pl.LazyFrame]
KEYS = ["region", "product_type"]
ALLOWED = {"region": ["North", "south"], "product_type": ["toys"]}


def _run(lf: pl.LazyFrame, params: CleanParams) -> clean.CleanResult:
    flagged = clean.flag_rows(lf, params)
    daily, quarantine, counts = pl.collect_all(
        [
            clean.rollup_daily(flagged, params.series_keys),
            clean.quarantine_rows(flagged, []),
            clean.row_counts(flagged),
        ]
    )
    return clean.CleanResult(daily, quarantine, counts.row(0, named=True))


def _params(**changes: Any) -> CleanParams:
    return defaults.clean(**{"series_keys": KEYS, "allowed_categories": ALLOWED, **changes})


@pytest.mark.parametrize(
    ("text", "folded"), [(" North ", "north"), ("NORTH", "north"), ("New   York\t", "new york")]
)
def test_fold_trims_collapses_and_lowercases(text: str, folded: str) -> None:
    assert fold_text(text) == folded


def test_spelling_variants_become_one_series_and_are_counted(raw_rows: RawRows) -> None:
    lf = raw_rows(
        {},
        {"region": " NORTH", "store_id": "S2"},
        {"region": "South ", "product_type": "Toys", "store_id": "S3"},
        {"region": "mars", "store_id": "S4"},
    )
    result = _run(lf, _params())
    assert sorted(result.daily["region"].to_list()) == ["north", "south"]
    assert result.counts["rows_normalised"] == 2  # kept rows whose spelling changed
    assert result.counts["rows_kept"] == 3
    assert result.quarantine["region"].to_list() == ["mars"]
    off = _run(lf, _params(normalize_categories=False, allowed_categories={}))
    assert off.counts["rows_normalised"] == 0
    assert sorted(off.daily["region"].unique().to_list()) == [" NORTH", "South ", "mars", "north"]


def test_aliases_map_variants_in_any_case(raw_rows: RawRows) -> None:
    lf = raw_rows({}, {"region": "Nord", "store_id": "S2"}, {"region": " n.", "store_id": "S3"})
    params = _params(category_aliases={"region": {"NORD": "North", "n.": "north"}})
    result = _run(lf, params)
    assert result.daily["region"].to_list() == ["north"]
    assert result.daily["n_rows"].to_list() == [3]
    assert result.counts["rows_normalised"] == 2
    unaliased = _run(lf, _params())
    assert unaliased.counts["rows_quarantined"] == 2


def test_quarantine_keeps_the_values_as_they_arrived(raw_rows: RawRows) -> None:
    result = _run(raw_rows({"region": " Mars "}), _params())
    assert result.quarantine["region"].to_list() == [" Mars "]


def test_copies_that_differ_only_in_spelling_are_duplicates(raw_rows: RawRows) -> None:
    result = _run(raw_rows({}, {"region": "NORTH"}), _params())
    assert result.counts["rows_kept"] == 1
    assert result.quarantine["reason"].to_list() == ["duplicate"]


def test_open_maps_are_set_without_plus() -> None:
    cfg = app_config(
        "data",
        [
            "data=local",
            "data.allowed_categories.region=[north,south]",
            "preprocessing.category_aliases.region.nord=north",
        ],
    )
    assert cfg.data.allowed_categories == {"region": ["north", "south"]}
    assert cfg.preprocessing.category_aliases == {"region": {"nord": "north"}}
