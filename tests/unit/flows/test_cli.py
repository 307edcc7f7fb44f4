"""The ``sales-forecast`` command, the wheel that installs it, and users' config folders."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException

from flows import cli
from flows import config as conf
from flows.cli_errors import user_error
from tasks.errors import ConfigError
from tests.e2e.installed import build_wheel
from tests.support import REPO

MY_DATA = "defaults:\n  - synthetic\nname: mydata\n"


@pytest.fixture
def my_config(tmp_path: Path) -> Path:
    """A user's config folder with one data option, ``data=mydata``."""
    (tmp_path / "my-config" / "data").mkdir(parents=True)
    (tmp_path / "my-config" / "data" / "mydata.yaml").write_text(MY_DATA)
    return tmp_path / "my-config"


def test_help_lists_the_subcommands_and_bad_usage_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as shown:
        cli.main(["--help"])
    assert shown.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)
    for args in ([], ["bogus"]):
        with pytest.raises(SystemExit) as bad:
            cli.main(args)
        assert bad.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_every_subcommand_is_an_importable_main() -> None:
    for name, command in cli.COMMANDS.items():
        assert callable(command.load()), name


def test_a_subcommand_gets_the_arguments_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tasks.registry.cli import main as registry_main

    args = ["--output-path", str(tmp_path), "--model-name", "nothing-here", "history"]
    direct = registry_main(args)
    expected = capsys.readouterr()
    assert cli.main(["registry", *args]) == direct
    assert capsys.readouterr() == expected


def test_run_takes_hydras_options_and_a_users_config_folder(
    my_config: Path, tmp_path: Path
) -> None:
    args = ["run", "--config-dir", str(my_config), "data=mydata", "--cfg", "job"]
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["data"]["name"] == "mydata"


def test_the_environment_adds_config_folders_to_every_composition(
    my_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigCompositionException, match="mydata"):
        conf.compose_config(["data=mydata"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(conf.CONFIG_DIR_ENV, f"/nonexistent{':'}{my_config.name}")
    with pytest.raises(ConfigCompositionException) as missing:
        conf.compose_config(["data=mydata"])
    error = user_error(missing.value)  # what the command line shows as its short block
    assert isinstance(error, ConfigError)
    assert f"{conf.CONFIG_DIR_ENV} names '/nonexistent'" in str(error)

    monkeypatch.setenv(conf.CONFIG_DIR_ENV, my_config.name)  # relative to the current folder
    cfg = conf.to_app_config(conf.compose_config(["data=mydata"]))
    assert cfg.data.name == "mydata"
    assert cfg.model.model_name == "sales-forecast-mydata"
    assert conf.to_app_config(conf.compose_config()).data.name == "synthetic"


def test_the_wheel_carries_the_config_and_the_command(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    shipped = {n.removeprefix("flows/conf/") for n in names if n.startswith("flows/conf/")}
    in_checkout = {p.relative_to(REPO / "conf").as_posix() for p in REPO.glob("conf/**/*.yaml")}
    assert shipped == in_checkout
    assert "sales-forecast = flows.cli:main" in scripts
    assert not any(n.startswith(("tests/", "conf/", "benchmarks/")) for n in names)
    assert conf.CONF_DIR == REPO / "conf"  # a checkout reads its own conf/, not a copy
