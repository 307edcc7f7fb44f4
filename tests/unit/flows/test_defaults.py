"""Every default lives once: in the config's dataclasses (flows/config.py).

A YAML option in ``conf/`` holds only what it changes, and no function or dataclass under
``tasks/`` repeats a config default as its own parameter default (the plan passes every
value; a second copy would silently win when the config changes).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import OmegaConf

import tasks
from flows import config as conf
from tasks.data.sources.defects import DefectRates
from tasks.data.sources.generate import GeneratorSpec
from tests.support import REPO

CONF = REPO / "conf"
# The generator's settings have their home in its own spec (``python -m tasks.generate``
# uses it without a config); flows.config.GeneratorConfig reads its defaults from there.
DEFAULTS_OWNED_BY_THE_DOMAIN = ("data.generator.",)
DOMAIN_HOMES = (GeneratorSpec, DefectRates)


def yaml_options() -> list[Path]:
    return sorted(CONF.rglob("*.yaml"))


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf; a dict that is a value is one leaf."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), node


def dataclass_default(key: str) -> Any:
    node = OmegaConf.to_container(OmegaConf.structured(conf.AppConfig), resolve=False)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return "<not declared>"
        node = node[part]
    return node


def option_values(path: Path) -> dict[str, Any]:
    """The dotted keys an option file sets, where they land in the config."""
    text = path.read_text()
    doc = yaml.safe_load(text) or {}
    if path.parent == CONF:  # the primary config: defaults list and Hydra's own settings
        doc = {k: v for k, v in doc.items() if k not in ("defaults", "hydra")}
        prefix = ""
    elif text.startswith("# @package _global_"):
        prefix = ""
    else:
        prefix = f"{path.parent.name}."
    return {f"{prefix}{key}": value for key, value in leaves(doc)}


@pytest.mark.parametrize("path", yaml_options(), ids=lambda p: str(p.relative_to(CONF)))
def test_an_option_file_holds_only_what_it_changes(path: Path) -> None:
    same = {
        key: value for key, value in option_values(path).items() if dataclass_default(key) == value
    }
    assert not same, f"{path.relative_to(REPO)} repeats the dataclass defaults {same}"


def config_defaults() -> dict[str, list[tuple[str, Any]]]:
    """Leaf name → (dotted key, value) of the composed default config."""
    cfg = dataclasses.asdict(conf.to_app_config(conf.compose_config([])))
    found: dict[str, list[tuple[str, Any]]] = {}
    for key, value in leaves(cfg):
        if not key.startswith(DEFAULTS_OWNED_BY_THE_DOMAIN):
            found.setdefault(key.rsplit(".", 1)[-1], []).append((key, value))
    return found


def parameter_defaults() -> Iterator[tuple[str, str, Any]]:
    """(where, parameter name, default) of every function and dataclass under ``tasks``."""
    for info in pkgutil.walk_packages(tasks.__path__, "tasks."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if getattr(obj, "__module__", None) != info.name:
                continue
            fn = getattr(obj, "fn", obj)  # a Prefect task's function
            if obj in DOMAIN_HOMES:
                continue
            if dataclasses.is_dataclass(obj) and isinstance(obj, type):
                for f in dataclasses.fields(obj):
                    if f.default is not dataclasses.MISSING:
                        yield f"{info.name}.{obj.__name__}", f.name, f.default
            elif inspect.isfunction(fn):
                for p in inspect.signature(fn).parameters.values():
                    if p.default is not inspect.Parameter.empty:
                        yield f"{info.name}.{fn.__name__}", p.name, p.default


def test_no_task_or_domain_default_repeats_a_config_default() -> None:
    known = config_defaults()
    repeated = [
        f"{where}({name}={default!r}) repeats {key}"
        for where, name, default in parameter_defaults()
        for key, value in known.get(name, [])
        if default is not None and default == value and type(default) is type(value)
    ]
    assert not repeated, "\n".join(repeated)


def test_the_check_finds_a_repeated_default() -> None:
    known = config_defaults()
    assert ("evaluation.max_regression", 0.05) in known["max_regression"]
    assert ("preprocessing.missing_periods", "zero") in known["missing_periods"]
