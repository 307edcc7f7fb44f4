"""Names per cell: what each cell defines, reads, changes, and what its functions read."""

from __future__ import annotations

from tests.unit.notebook.build import run


def test_names_per_cell() -> None:
    result = run(
        "# md # Title",
        "import pandas as pd\nraw = pd.read_csv(path)",
        "clean = raw.dropna()\nclean['x'] = 1\ndef total(frame):\n    return frame.x.sum() * RATE",
    )
    cells = {c.number: c for c in result.cells}
    assert cells[1].kind == "markdown"
    assert cells[2].defines == ["pd", "raw"]
    assert list(cells[2].inputs) == ["path"]
    assert cells[3].defines == ["clean", "total"]
    assert list(cells[3].inputs) == ["raw"]
    assert list(cells[3].modifies) == ["clean"]
    assert [(u.function, u.name) for u in cells[3].late] == [("total", "RATE")]


def test_stage_split_follows_what_each_cell_does() -> None:
    result = run(
        "import pandas as pd\nimport lightgbm as lgb",
        "raw = pd.read_parquet(path)",
        "clean = raw.dropna().drop_duplicates()",
        "daily = clean.groupby(['store', 'date']).agg(revenue=('revenue', 'sum'))",
        "daily['lag_7'] = daily.groupby('store').revenue.shift(7)",
        "model = lgb.train(params, lgb.Dataset(daily))",
        "pred = model.predict(future)",
        "daily.revenue.plot()",
        "clean.describe()",
    )
    assert {n: stages[0] for n, stages in result.stage_of.items()} == {
        1: "setup",
        2: "ingest",
        3: "clean",
        4: "aggregate",
        5: "features",
        6: "train",
        7: "forecast",
        8: "report",
        9: "explore",
    }
    plan = {p.stage: p for p in result.plan}
    assert plan["clean"].takes == ["raw"]
    assert plan["clean"].gives == ["clean"]
