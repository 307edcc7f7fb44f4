"""Local entry point: ``python flows/main.py key=value ...`` (Hydra CLI, ``-m`` for sweeps).

``sales-forecast run key=value ...`` (:mod:`flows.cli`) is the same command. Hydra's own
options apply: ``--config-dir DIR`` adds a folder of your config groups to the search path,
``--cfg job`` prints the composed config, ``--help`` lists the groups.

Hydra validates the overrides against the structured config before any work starts; the
flow then composes the same config from the same override strings, so a local run and a
deployment run of the same overrides are the same run. Without ``PREFECT_API_URL`` the
run gets its own API server that dies with it, even on SIGKILL (:mod:`flows.local_server`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from flows.config import CONF_DIR, CONFIG_NAME, env_overrides, register_configs

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> dict[str, Any]:
    """Run the ``sales-forecast`` flow with this job's overrides; returns the flow's result
    (a sweep's comparison reads each job's run directory from it, :mod:`flows.sweep`).

    A bad config value, bad data or a storage failure ends the command with one short
    block on stderr and a non-zero exit code (:mod:`flows.cli_errors`). The local API
    server, if this process started one, stops at exit, after that block and after
    Prefect has sent its last log lines to it (stopping it earlier makes Prefect print
    connection errors below the block).
    """
    from flows.cli_errors import reported_errors
    from flows.config import to_app_config

    with reported_errors():
        to_app_config(cfg)  # every bad value, before Prefect starts or anything is read
        from flows.local_server import ensure_api
        from flows.sales_forecast import sales_forecast

        ensure_api()  # PREFECT_API_URL, or a local API server that cannot outlive this process
        # run() put the environment's layer first; the flow composes it again itself
        task = list(HydraConfig.get().overrides.task)
        return sales_forecast(overrides=task[len(env_overrides()) :])


def run(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Hydra's command line on ``argv`` (default: this process's arguments); exit status 0.

    A bad override or a failed run ends the process with a non-zero exit status.
    """
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.get("PREFECT_HOME"):  # the ephemeral server's database cannot create it
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    register_configs()
    from flows.cli_errors import reported_errors

    with reported_errors():  # a bad SALES_FORECAST__* variable: one short block
        env = list(env_overrides().values())
    args = list(sys.argv[1:] if argv is None else argv)
    # the environment's layer before the command line's overrides, which win
    sys.argv = [prog or sys.argv[0], *env, *args]
    main()
    return 0


if __name__ == "__main__":
    run()
