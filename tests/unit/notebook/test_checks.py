"""One test per anti-pattern on a notebook built to carry it, and what must not be flagged."""

from __future__ import annotations

from tasks.notebook import render_html, render_markdown
from tests.unit.notebook.build import found, run, where


def test_hard_coded_input_and_output_paths_name_their_config_keys() -> None:
    result = run(
        "import pandas as pd",
        'df = pd.read_csv("/home/ana/sales/2024.csv")\ndf.to_parquet("out/forecast.parquet")',
    )
    assert where(result, "hard-coded-path") == [("blocker", 2, 1), ("blocker", 2, 2)]
    first, second = found(result, "hard-coded-path")
    assert "data.input_path" in first.fix
    assert "/home/ana/sales/2024.csv" in first.message
    assert "data.output_path" in second.fix


def test_strings_that_are_not_paths_are_not_flagged() -> None:
    result = run(
        "import os\nimport pandas as pd",
        'fmt = "%Y-%m-%d"\ntitle = "north / toys"\nratio = "a/b"\nroot = os.environ["SALES_DIR"]',
        'def load(path):\n    """Read e.g. /data/sales.csv."""\n    return pd.read_csv(path)',
        'label = f"{root}/{fmt}"',
    )
    assert found(result, "hard-coded-path") == []


def test_credentials_are_found_and_never_shown_in_full() -> None:
    key = "AKIA" + "Q7" * 8  # built here so no key-shaped literal sits in this file
    password = "correct-horse-battery"
    result = run(
        "import boto3",
        f'db_password = "{password}"',
        f'client = boto3.client("s3", aws_access_key_id="{key}", endpoint_url="s3://b/x.csv")',
    )
    assert where(result, "credential") == [("blocker", 2, 1), ("blocker", 3, 1)]
    pages = render_markdown(result) + render_html(result)
    assert password not in pages
    assert key not in pages
    assert "masked" in found(result, "credential")[0].message
    path = found(result, "hard-coded-path")[0]  # same line as the key: its excerpt is redacted
    assert "masked" in path.evidence
    assert key not in path.evidence


def test_secrets_read_from_the_environment_and_lookalike_names_are_not_flagged() -> None:
    result = run(
        "import os",
        'token = os.environ["API_TOKEN"]\npassword = ""\ntokenizer = "bert-base"\nn_tokens = 5',
    )
    assert found(result, "credential") == []


def test_out_of_order_and_missing_execution_counts_block() -> None:
    result = run("a = 1", "b = a", "c = b", counts=[1, 3, 2])
    assert where(result, "execution-order") == [("blocker", 3, None)]
    assert "ran as [2]" in found(result, "execution-order")[0].message
    missing = run("a = 1", "b = a", counts=[1, None])
    assert where(missing, "execution-order") == [("blocker", 2, None)]


def test_execution_counts_in_order_or_stripped_do_not_block() -> None:
    assert found(run("a = 1", "b = a", counts=[1, 2]), "execution-order") == []
    stripped = run("a = 1", "b = a")
    assert where(stripped, "execution-order") == [("note", None, None)]


def test_name_used_before_the_cell_that_defines_it() -> None:
    result = run("total = price * 2", "price = 10", "print(undefined_thing)")
    assert where(result, "hidden-state") == [("blocker", 1, 1), ("blocker", 3, 1)]
    below, nowhere = found(result, "hidden-state")
    assert "cell 2" in below.message
    assert "'price'" in below.message
    assert "no cell binds" in nowhere.message


def test_function_reading_a_global_bound_in_a_later_cell() -> None:
    result = run("def scale(x):\n    return x * FACTOR", "FACTOR = 3\ny = scale(2)")
    assert where(result, "hidden-state") == [("warning", 1, 2)]
    assert "scale()" in found(result, "hidden-state")[0].message


def test_names_bound_in_order_in_every_form_are_not_hidden_state() -> None:
    result = run(
        "import math\nfrom pathlib import Path as P",
        "xs = [i * 2 for i in range(3)]\nfor k in xs:\n    last = k\nsq = {v: v for v in xs}",
        "with open(__file__) as fh:\n    pass\ntry:\n    pass\nexcept ValueError as err:\n"
        "    print(err)",
        "class Box:\n    pass\nf = lambda a, b=1: a + b + len(xs)\nr = math.pi + last\n"
        "if (n := 3):\n    m = n\np = P('.')",
        "def g(a, *args, key=None, **kw):\n    local = a\n    return local, args, key, kw, Box",
    )
    assert found(result, "hidden-state") == []


def test_names_rebound_in_later_cells() -> None:
    result = run("df = 1", "df = df + 1\ndf = df * 2", "df['x'] = 3")
    assert where(result, "redefined") == [("warning", 2, None)]
    message = found(result, "redefined")[0].message
    assert "cells 1, 2" in message
    assert "changed in place in cells 3" in message


def test_rebinding_in_one_cell_and_throwaway_names_are_not_redefinitions() -> None:
    result = run(
        "import matplotlib.pyplot as plt\nx = 1\nx = x + 1",
        "fig, ax = plt.subplots()",
        "fig, ax = plt.subplots()",
    )
    assert found(result, "redefined") == []


def test_unseeded_randomness_blocks() -> None:
    result = run(
        "import numpy as np\nimport random\nfrom sklearn.model_selection import train_test_split",
        "pick = np.random.choice([1, 2, 3])\nrows = df.sample(5)\nrng = np.random.default_rng()",
        "a, b = train_test_split(rows)\nc = random.random()",
        "df = None",
    )
    assert where(result, "unseeded-random") == [
        ("blocker", 2, 1),
        ("blocker", 2, 2),
        ("blocker", 2, 3),
        ("blocker", 3, 1),
        ("blocker", 3, 2),
    ]


def test_seeded_randomness_is_not_flagged() -> None:
    result = run(
        "import numpy as np\nimport random\nimport lightgbm as lgb",
        "np.random.seed(0)\nrandom.seed(1)\nrng = np.random.default_rng(42)",
        "a = np.random.rand(3)\nb = random.choice([1, 2])\nc = rng.normal()",
        "rows = df.sample(5, random_state=0)",
        'params = {"objective": "tweedie", "seed": 7}\nm = lgb.train(params, ds)',
        "df = ds = None",
    )
    assert found(result, "unseeded-random") == []


def test_lightgbm_without_a_seed_is_a_warning() -> None:
    result = run("import lightgbm as lgb", 'p = {"num_leaves": 15}\nm = lgb.train(p, ds)', "ds=1")
    assert where(result, "unseeded-random") == [("warning", 2, 2)]


def test_magic_numbers_map_to_config_keys() -> None:
    result = run(
        "import lightgbm as lgb",
        "HORIZON = 14\nLAGS = [1, 7]\nparams = {'learning_rate': 0.1, 'min_child_samples': 5}",
        "m = lgb.train(params, ds, num_boost_round=500)\nr = s.rolling(21).mean()",
        "uplift = sales * 1.17",
    )
    keys = {key: [lit.value for lit in lits] for key, lits in result.config.items()}
    assert keys == {
        "forecast.horizon": [14],
        "features.lags": [[1, 7]],
        "model.hyperparameters.learning_rate": [0.1],
        "model.hyperparameters.min_data_in_leaf": [5],
        "model.num_boost_round": [500],
        "features.window_sizes": [21],
    }
    assert "model.num_boost_round=500" in result.overrides()
    assert "features.lags=[1,7]" in result.overrides()
    unmapped = [f for f in found(result, "magic-number") if f.cell == 4]
    assert [(f.line, "1.17" in f.message) for f in unmapped] == [(1, True)]


def test_numbers_in_display_indexing_and_formatting_are_not_magic() -> None:
    result = run(
        "import matplotlib.pyplot as plt",
        "fig, ax = plt.subplots(figsize=(12, 4))\ntop = df.head(10)\nx = rows[3]\n"
        "y = s.shift(1) - 1 + 0\nlabel = f'{x:.3f}'",
    )
    assert found(result, "magic-number") == []


def test_print_and_displayed_expressions_are_side_effects() -> None:
    result = run("print('rows', 3)\ndf.head()", "df.info()\nx = 1")
    assert where(result, "side-effect") == [("warning", 1, 1), ("note", 1, 2), ("note", 2, 1)]


def test_plots_assignments_and_unshown_expressions_are_not_side_effects() -> None:
    result = run("import matplotlib.pyplot as plt", "df.head()\nplt.show()", "x = df.head()")
    assert found(result, "side-effect") == []


def test_imports_outside_the_imports_cell() -> None:
    result = run("import pandas as pd", "x = 1", "import numpy as np\nfrom math import pi")
    assert where(result, "scattered-imports") == [("warning", 3, 1)]
    assert "np, pi" in found(result, "scattered-imports")[0].message


def test_imports_in_one_cell_or_inside_functions_are_not_scattered() -> None:
    result = run(
        "import pandas as pd\nimport numpy as np", "def f():\n    import math\n    return math"
    )
    assert found(result, "scattered-imports") == []


def test_pandas_options_and_chained_assignment_block() -> None:
    result = run(
        "import pandas as pd\nimport warnings",
        "pd.options.mode.chained_assignment = None\npd.set_option('mode.copy_on_write', False)\n"
        "warnings.filterwarnings('ignore')",
        "df[df.x > 0]['y'] = 1\ndf['y'][df.x > 0] = 2\ndf.loc[m]['y'] = 3\n"
        "df[df.x > 0].fillna(0, inplace=True)\ndf.y[df.x.isna()] = 4",
        "df = m = None",
    )
    lines = [(f.cell, f.line) for f in found(result, "pandas-trap") if f.severity == "blocker"]
    assert lines == [(2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5)]


def test_one_step_assignment_nested_dicts_and_display_options_are_not_traps() -> None:
    result = run(
        "import os\nimport pandas as pd",
        "pd.set_option('display.max_rows', 10)",
        "df.loc[df.x > 0, 'y'] = 1\nd['a']['b'] = 1\nos.environ['X'] = '1'\nd[k][j] = 2",
        "df = d = k = j = None",
    )
    assert where(result, "pandas-trap") == [("note", 2, 1)]


def test_a_cell_that_does_not_parse_is_reported_and_magics_are_not() -> None:
    result = run("%matplotlib inline\n!pip install lightgbm\nx = 1", "def broken(:\n    pass")
    assert where(result, "syntax") == [("blocker", 2, None)]
