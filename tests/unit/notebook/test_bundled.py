"""The assessment of the bundled "before" notebook: what it must find, and its stage split."""

from __future__ import annotations

import pytest

from tasks.notebook import Assessment, assess
from tests.support.notebooks import BEFORE


@pytest.fixture(scope="module")
def before() -> Assessment:
    return assess(BEFORE.read_text(), BEFORE.name)


def test_blocking_findings_of_the_before_notebook(before: Assessment) -> None:
    blocking = [(f.check, f.cell, f.line) for f in before.findings if f.severity == "blocker"]
    assert blocking == [
        ("pandas-trap", 2, 7),  # pd.options.mode.chained_assignment = None
        ("hard-coded-path", 3, 1),  # DATA_DIR = "../data/synthetic/seed-42"
        ("hard-coded-path", 5, 2),  # DATA_DIR + "/*/*.parquet"
        ("pandas-trap", 10, 9),  # df[df.promo.isna()]["promo"] = False
        ("hard-coded-path", 22, 3),  # fc.to_csv("forecast.csv")
        ("unseeded-random", 23, 2),  # np.random.randint picks the plotted series
    ]


def test_warnings_of_the_before_notebook(before: Assessment) -> None:
    def at(check: str) -> list[tuple[int | None, int | None]]:
        return [
            (f.cell, f.line)
            for f in before.findings
            if f.check == check and f.severity == "warning"
        ]

    assert at("hidden-state") == [(15, 6), (15, 8)]  # make_features reads LAGS, WINDOWS of cell 16
    assert at("redefined") == [(10, None), (22, None)]  # df, model
    assert at("scattered-imports") == [(15, 1), (18, 1)]  # holidays, lightgbm
    assert at("unseeded-random") == [(18, 13), (22, 1)]  # lgb.train with default seeds
    assert at("side-effect") == [(5, 4), (20, 12)]  # print()
    unmapped = [
        f.message for f in before.findings if f.check == "magic-number" and "no name" in f.message
    ]
    assert len(unmapped) == 2
    assert "2022" in unmapped[0]
    assert "2027" in unmapped[1]


def test_settings_of_the_before_notebook_become_overrides(before: Assessment) -> None:
    assert before.overrides() == [
        "forecast.horizon=28",
        "data.allowed_categories.region=[north,south,east,west]",
        "data.allowed_categories.product_type=[grocery,electronics,clothing,home,toys,sports]",
        "features.holiday_country=US",
        "features.lags=[1,7,14,28]",
        "features.window_sizes=[7,28]",
        "model.hyperparameters.objective=tweedie",
        "model.hyperparameters.learning_rate=0.05",
        "model.hyperparameters.num_leaves=31",
        "model.hyperparameters.min_data_in_leaf=20",
        "model.hyperparameters.feature_fraction=0.9",
        "model.num_boost_round=300",
    ]


def test_stage_split_of_the_before_notebook(before: Assessment) -> None:
    plan = {p.stage: p for p in before.plan}
    assert {s: p.cells for s, p in plan.items()} == {
        "setup": [2, 3],
        "ingest": [5],
        "clean": [10],
        "aggregate": [12],
        "features": [15, 16],
        "train": [18, 22],
        "evaluate": [20],
        "forecast": [19, 22],
        "report": [13, 23],
        "explore": [6, 7, 8],
    }
    assert plan["ingest"].gives == ["df"]
    assert plan["aggregate"].takes == ["df"]
    assert plan["aggregate"].gives == ["panel"]
    assert plan["report"].takes == ["panel", "fc"]
