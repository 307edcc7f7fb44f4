"""LightGBM hyperparameters checked against LightGBM's own parameter names, aliases and checks.

A name that LightGBM does not know (``foo_param``, ``max_dpeth``) is an error naming the
closest known name; so is a name the pipeline sets itself (seeds, determinism, the number
of rounds), a command-line or file setting LightGBM's Python API does not use here, two
names for one parameter, and a non-regression objective. Values are then handed to
LightGBM's own parameter checks on a ten-row data set (milliseconds, no I/O).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import numpy as np

from tasks.errors import Problem, shown
from tasks.model.train import lgb_params

KEY = "model.hyperparameters"
DOCS = "https://lightgbm.readthedocs.io/en/latest/Parameters.html"
# Set by the pipeline for every model (tasks.model.train.lgb_params and the Dataset it builds).
OWNED = {
    "seed": "random_seed (top level) seeds every LightGBM seed",
    "bagging_seed": "random_seed (top level) seeds every LightGBM seed",
    "feature_fraction_seed": "random_seed (top level) seeds every LightGBM seed",
    "data_random_seed": "random_seed (top level) seeds every LightGBM seed",
    "deterministic": "the pipeline always trains in deterministic mode",
    "force_row_wise": "the pipeline fixes the histogram layout for reproducible models",
    "force_col_wise": "the pipeline fixes the histogram layout for reproducible models",
    "verbosity": "the pipeline silences LightGBM and logs through Prefect",
    "num_iterations": "set model.num_boost_round instead",
    "categorical_feature": "set features.categorical_columns instead",
    "early_stopping_round": "the pipeline trains without a validation set",
}
# Command-line, file, network and prediction settings: not used by training in Python.
NOT_USED = re.compile(
    r"^(task|data|valid|config|input_model|output_model|output_result|convert_model.*|"
    r"save_binary|snapshot_freq|machine_list_filename|machines|local_listen_port|time_out|"
    r"num_machines|pre_partition|forced\w*_filename|parser_config_file|header|label_column|"
    r"weight_column|group_column|ignore_column|two_round|saved_feature_importance_type|"
    r"predict_\w+|pred_early_stop\w*|\w+_predict)$"
)
REGRESSION_OBJECTIVES = (
    "regression",
    "regression_l2",
    "l2",
    "mean_squared_error",
    "mse",
    "l2_root",
    "root_mean_squared_error",
    "rmse",
    "regression_l1",
    "l1",
    "mean_absolute_error",
    "mae",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "mean_absolute_percentage_error",
    "gamma",
    "tweedie",
)
_CHECK_SUFFIX = re.compile(r"\s+at \S+, line \d+\s*\.?\s*$")


@functools.cache
def aliases() -> dict[str, str]:
    """Every LightGBM parameter name and alias → its main name, from the library itself."""
    # LightGBM's Python package reads this table from the C library (LGBM_DumpParamAliases);
    # it has no public accessor, so the private helper is used, as lightgbm itself does.
    table: dict[str, list[str]] = lgb.basic._ConfigAliases._get_all_param_aliases()
    return {alias: main for main, names in table.items() for alias in names}


def closest(name: str) -> str | None:
    """The known LightGBM name most like ``name`` (a typo's likely intent), if any."""
    match = difflib.get_close_matches(name, list(aliases()), n=1, cutoff=0.6)
    return match[0] if match else None


def name_problems(params: dict[str, Any]) -> list[Problem]:
    """Unknown, pipeline-owned, unused or repeated parameter names, and a bad objective."""
    known = aliases()
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name, value in params.items():
        key = f"{KEY}.{name}"
        main = known.get(name)
        if main is None:
            guess = closest(name)
            hint = f"did you mean {KEY}.{guess}?" if guess else f"see {DOCS}"
            problems.append(Problem(key, value, "not a LightGBM parameter", hint))
            continue
        if main in OWNED:
            problems.append(Problem(key, value, "set by the pipeline", f"remove it: {OWNED[main]}"))
        elif NOT_USED.match(main):
            problems.append(
                Problem(key, value, "a LightGBM command-line/file setting", "remove it")
            )
        elif main in seen:
            problems.append(
                Problem(
                    key,
                    value,
                    f"another name of {main}, already set as {KEY}.{seen[main]}",
                    f"set {KEY}.{main}={shown(value)} instead",
                )
            )
        seen.setdefault(main, name)
    objective = next((v for k, v in params.items() if known.get(k) == "objective"), None)
    if objective is not None and str(objective) not in REGRESSION_OBJECTIVES:
        matches = difflib.get_close_matches(str(objective), REGRESSION_OBJECTIVES, n=1)
        example = matches[0] if matches else "tweedie"
        problems.append(
            Problem(
                f"{KEY}.objective",
                objective,
                "revenue needs a LightGBM regression objective "
                "(regression, regression_l1, huber, fair, poisson, quantile, mape, gamma, tweedie)",
                f"e.g. {KEY}.objective={example}",
            )
        )
    return problems


def value_problems(params: dict[str, Any], seed: int) -> list[Problem]:
    """LightGBM's own checks of the values, run on a ten-row data set; [] when it accepts them."""
    features = np.arange(20, dtype=np.float64).reshape(10, 2)
    label = np.arange(1, 11, dtype=np.float64)
    try:
        with _quiet_stderr():  # LightGBM prints "[Fatal] ..." to fd 2 before raising
            dataset = lgb.Dataset(features, label=label, params={"verbosity": -1})
            lgb.Booster(params=lgb_params(params, seed), train_set=dataset)
    except lgb.basic.LightGBMError as exc:
        message = _CHECK_SUFFIX.sub("", str(exc)).strip()
        named = [k for k in params if re.search(rf"\b{re.escape(k)}\b", message)]
        key = f"{KEY}.{named[0]}" if named else KEY
        value = params[named[0]] if named else params
        return [Problem(key, value, f"LightGBM rejects it: {message}", f"see {DOCS}")]
    except (TypeError, ValueError) as exc:
        return [Problem(KEY, params, f"LightGBM rejects these parameters: {exc}", f"see {DOCS}")]
    return []


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to ``/dev/null`` for the block (C libraries write there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
