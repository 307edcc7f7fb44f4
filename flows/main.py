"""Local entry point: ``python flows/main.py key=value ...`` (Hydra CLI, ``-m`` for sweeps).

Hydra validates the overrides against the structured config before any work starts; the
flow then composes the same config from the same override strings, so a local run and a
deployment run of the same overrides are the same run. Without ``PREFECT_API_URL`` the
run gets its own API server that dies with it, even on SIGKILL (:mod:`flows.local_server`).
"""

from __future__ import annotations

import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from flows.config import CONF_DIR, CONFIG_NAME, register_configs

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> None:
    """Run the ``sales-forecast`` flow with this job's overrides.

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
        sales_forecast(overrides=list(HydraConfig.get().overrides.task))


if __name__ == "__main__":
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.get("PREFECT_HOME"):  # the ephemeral server's database cannot create it
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    register_configs()
    main()
