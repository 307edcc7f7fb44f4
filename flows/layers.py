"""The config's layers: the environment as overrides, and which layer set each key.

Priority, highest first: the run's overrides (command line, or a deployment's parameters)
→ environment → YAML (``conf/`` and your config folders) → dataclass default.

Environment variables named ``SALES_FORECAST__<KEY>__<SUBKEY>...`` set any key:
``SALES_FORECAST__MODEL__HYPERPARAMETERS__NUM_LEAVES=63`` is
``model.hyperparameters.num_leaves=63`` (``__`` separates levels; names are lower-cased;
``SALES_FORECAST__DATA=local`` chooses a group option). Values are read as YAML scalars
(``63``, ``0.05``, ``true``, ``null``, ``1d``, ``[1, 7]``) and passed to Hydra as quoted
data, checked against the schema like any override. They are never interpolated: a value
holding ``${`` is refused, so a variable cannot read another one (``oc.env``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from tasks.errors import ConfigError, Problem
from tasks.model import hyperparameters

ENV_PREFIX = "SALES_FORECAST__"
_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_OC_ENV = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)")


def env_key(variable: str) -> str:
    """``SALES_FORECAST__MODEL__NUM_BOOST_ROUND`` → ``model.num_boost_round``."""
    return ".".join(p.lower() for p in variable.removeprefix(ENV_PREFIX).split("__"))


def render(value: Any) -> str:
    """A YAML value as a Hydra override value: strings quoted (data, not grammar)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{k if _SAFE.match(str(k)) else render(str(k))}:{render(v)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    text = str(value)
    quote = "'" if "'" not in text else '"'
    if quote in text:
        raise ValueError("holds both kinds of quote")
    return f"{quote}{text}\\{quote}" if text.endswith("\\") else f"{quote}{text}{quote}"


def _parsed(text: str) -> Any:
    """``text`` as a YAML value; dates and other non-plain values stay text."""
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text
    plain = (type(None), bool, int, float, str, list, dict)
    return value if isinstance(value, plain) else text.strip()


def env_overrides(
    schema: DictConfig,
    groups: Iterable[str],
    open_maps: Iterable[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Override strings from ``SALES_FORECAST__*`` variables, by variable name (sorted).

    ``schema`` is the structured config (keys that exist), ``groups`` the config groups
    (``SALES_FORECAST__DATA=local``), ``open_maps`` the maps that take new keys.

    Raises
    ------
    ConfigError
        Naming the variable: an unknown key, a value with ``${``, or one that is not data.
    """
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for variable in sorted(v for v in environ if v.startswith(ENV_PREFIX)):
        text, key = environ[variable], env_key(variable)
        if "${" in text:
            raise _bad(
                variable,
                text,
                "environment values are data, never interpolated",
                "set it to the value itself, without ${...}",
            )
        if key in groups:
            if not _SAFE.match(text.strip()):
                raise _bad(variable, text, f"is not a {key} option name", f"e.g. {variable}=local")
            out[variable] = f"{key}={text.strip()}"
            continue
        prefix = _known(schema, key, open_maps, variable, text)
        value = _parsed(text)
        try:
            override = f"{prefix}{key}={render(value)}"
            (parsed,) = OverridesParser.create().parse_overrides([override])
            same = parsed.value() == value
        except Exception as exc:  # the grammar refused it: say which variable
            raise _bad(variable, text, f"cannot be read as a value ({exc})", "quote less") from exc
        if not same:
            raise _bad(variable, text, "does not read back as the same value", "simplify it")
        out[variable] = override
    return out


def _known(schema: DictConfig, key: str, open_maps: Iterable[str], variable: str, text: str) -> str:
    """``""`` for a key of the schema or under an open map, ``"++"`` for another LightGBM
    parameter under ``model.hyperparameters``; else a ConfigError naming the variable."""
    parent, _, leaf = key.rpartition(".")
    siblings = _children(schema, parent)
    if leaf in siblings or any(key.startswith(f"{m}.") for m in open_maps):
        return ""
    if parent == hyperparameters.KEY:
        problems = hyperparameters.name_problems({leaf: text})
        if not problems:
            return "++"
        raise _bad(variable, text, problems[0].rule, problems[0].fix)
    guess = difflib.get_close_matches(leaf, siblings, n=1)
    fix = "rename or unset the variable"
    if guess:
        fix = f"did you mean {ENV_PREFIX}{_env(f'{parent}.{guess[0]}' if parent else guess[0])}?"
    raise _bad(variable, text, f"the config has no key {key}", fix)


def _env(key: str) -> str:
    """``model.num_boost_round`` → ``MODEL__NUM_BOOST_ROUND``."""
    return "__".join(key.split(".")).upper()


def _children(node: DictConfig, key: str) -> list[str]:
    """The keys under ``key`` (missing values included), or none when it is not a map."""
    holder = OmegaConf.select(node, key, default=None) if key else node
    return [str(k) for k in holder] if isinstance(holder, DictConfig) else []


def _bad(variable: str, value: str, rule: str, fix: str) -> ConfigError:
    """The error for a variable of the environment's layer."""
    return ConfigError([Problem(variable, value, rule, fix)])


def flatten(container: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (lists and empty maps are leaves)."""
    if isinstance(container, dict) and container:
        out: dict[str, Any] = {}
        for k, v in container.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): container}


def _covered(key: str, keys: Iterable[str]) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in keys)


def override_keys(overrides: Iterable[str]) -> list[str]:
    """The keys (or groups) of Hydra override strings."""
    return [o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides))]


def config_sources(
    node: DictConfig,
    defaults: DictConfig,
    run_overrides: list[str],
    env: Mapping[str, str],
    groups: Iterable[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Which layer set each key that differs from its dataclass default: ``cli`` (the run's
    overrides), ``env`` (a ``SALES_FORECAST__*`` variable, or a variable the YAML reads with
    ``${oc.env:...}``) or ``yaml``; a group name records who chose its option."""
    environ = os.environ if environ is None else environ
    cli, from_env = override_keys(run_overrides), override_keys(env.values())
    base = flatten(OmegaConf.to_container(defaults, resolve=False))
    sources: dict[str, str] = {}
    for key, value in flatten(OmegaConf.to_container(node, resolve=False)).items():
        if _covered(key, cli):
            sources[key] = "cli"
        elif _covered(key, from_env):
            sources[key] = "env"
        elif any(v in environ for v in _OC_ENV.findall(str(value))):
            sources[key] = "env"  # a variable the YAML or the dataclass reads (oc.env)
        elif key not in base or value != base[key]:
            sources[key] = "yaml"
    for group in groups:
        if group in cli:
            sources[group] = "cli"
        elif group in from_env:
            sources[group] = "env"
    return dict(sorted(sources.items()))
