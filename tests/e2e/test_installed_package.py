"""``pip install`` of the wheel, then ``sales-forecast`` from an empty folder, as a user would.

Nothing of this checkout is on the path: the commands are the installed ones (fixture
``installed_app``), run by an unprivileged user in a fresh empty folder, with the small run's
overrides. Relative paths resolve against that folder: the bundled synthetic data is
generated into ``./data``, the run is written to ``./outputs``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.installed import App, public_tempdir
from tests.support import SMALL

pytestmark = pytest.mark.slow

MY_DATA = """\
# A user's own data option, kept next to their data: the bundled generator's data set
# under another name (its own registry line: sales-forecast-mydata).
defaults:
  - synthetic
name: mydata
"""


def manifests(folder: Path) -> list[dict[str, object]]:
    """The run manifests under ``folder/outputs/runs``."""
    found = sorted(folder.glob("outputs/runs/*/*/manifest.json"))
    return [json.loads(p.read_text()) for p in found]


def test_sales_forecast_runs_from_an_empty_folder(installed_app: App) -> None:
    app = installed_app
    with public_tempdir("sales-forecast-user-") as tmp:
        work = app.user.owns(tmp / "work")
        env = app.env()
        where = app.run(["python", "-c", "import flows, tasks; print(flows.__file__)"], work, env)
        assert where.returncode == 0, where.stderr
        assert Path(where.stdout.strip()).is_relative_to(app.venv)  # not this checkout

        done = app.run(["sales-forecast", "run", *SMALL], work, env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        (manifest,) = manifests(work)
        run_dir = Path(str(manifest["run_dir"]).removeprefix("file://"))
        assert run_dir.is_relative_to(work / "outputs" / "runs")
        assert {"config.yaml", "forecasts.parquet", "metrics.json", "report.html"} <= {
            p.name for p in run_dir.iterdir()
        }
        assert any((work / "data" / "synthetic").glob("seed-*/date=*"))  # generated here

        registry = app.run(["sales-forecast", "registry", "list"], work, env)
        assert registry.returncode == 0, registry.stderr
        assert str(manifest["run_id"]) in registry.stdout


def test_a_users_config_folder_adds_a_data_option(installed_app: App) -> None:
    app = installed_app
    with public_tempdir("sales-forecast-user-") as tmp:
        work = app.user.owns(tmp / "work")
        (tmp / "my-config" / "data").mkdir(parents=True)
        (tmp / "my-config" / "data" / "mydata.yaml").write_text(MY_DATA)
        env = app.env()

        # the environment variable adds the folder for every way of composing
        shown = app.run(
            ["sales-forecast", "run", "data=mydata", "--cfg", "job"],
            work,
            env | {"SALES_FORECAST_CONFIG_DIR": str(tmp / "my-config")},
        )
        assert shown.returncode == 0, shown.stderr
        assert yaml.safe_load(shown.stdout)["data"]["name"] == "mydata"
        missing = app.run(["sales-forecast", "run", "data=mydata", "--cfg", "job"], work, env)
        assert missing.returncode != 0
        assert "mydata" in missing.stderr

        args = ["sales-forecast", "run", "--config-dir", "../my-config", "data=mydata", *SMALL,
                "mode=production", "evaluation.min_improvement=-0.5"]  # fmt: skip
        done = app.run(args, work, env)  # relative to the current folder
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        (manifest,) = manifests(work)
        run_dir = Path(str(manifest["run_dir"]).removeprefix("file://"))
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["data"]["name"] == "mydata"
        assert config["model"]["model_name"] == "sales-forecast-mydata"
        assert (work / "outputs" / "registry" / "sales-forecast-mydata" / "champion.json").exists()
