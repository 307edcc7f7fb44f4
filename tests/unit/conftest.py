"""Fixtures of the unit tests: the frame builders of :mod:`tests.support.frames`."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest

from tests.support.frames import daily_frame, raw_frame


@pytest.fixture
def raw_rows() -> Callable[..., pl.LazyFrame]:
    """Build a raw ``LazyFrame`` (:func:`tests.support.frames.raw_frame`)."""
    return raw_frame


@pytest.fixture
def daily_rows() -> Callable[..., pl.DataFrame]:
    """Build a clean daily frame (:func:`tests.support.frames.daily_frame`)."""
    return daily_frame
