"""What the tests share: the repository root and the small run configuration.

Builders live in the modules beside this one: ``frames`` (raw and daily frames),
``pipeline`` (the pure chain ingest → forecast on the default config), ``monitoring``
(quality, drift and realised-accuracy inputs built by the real functions) and ``browser``
(headless Chromium for the report).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A small but complete configuration: ~8 months, 6 series, 2 backtest windows of 14 days.
SMALL = [
    "data.generator.days=240",
    "data.generator.regions=[north,south]",
    "data.generator.product_types=[grocery,toys,sports]",
    "data.generator.stores_per_region=2",
    "forecast.horizon=14",
    "evaluation.backtest_windows=2",
    "model.num_boost_round=60",
]
