"""Runs a flow's tasks one after another and records what each did (state, seconds)."""

from __future__ import annotations

import time
from typing import Any, ParamSpec, TypeVar

from prefect import Task, get_run_logger
from prefect.cache_policies import NO_CACHE

from tasks import faults, storage
from tasks.caching import result_storage
from tasks.stages import RetryPolicy, with_retries

P = ParamSpec("P")
R = TypeVar("R")


class Steps:
    """Runs tasks in order and records each one's final state and wall time."""

    def __init__(
        self,
        storage_path: str,
        refresh: bool,
        settings: storage.StorageSettings | None = None,
        key_block: str | None = None,
        *,
        retries: RetryPolicy,
    ) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.retries = retries
        self._options: dict[str, Any] = {
            "result_storage": result_storage(storage_path, settings, key_block),
            "refresh_cache": refresh,
        }

    def record(self, name: str, state: str, start: float) -> None:
        """Record a step that ran elsewhere (e.g. as tasks on a cluster) since ``start``."""
        seconds = round(time.perf_counter() - start, 3)
        self.records[name] = {"state": state, "seconds": seconds}
        get_run_logger().info("step %s: %s in %.2f s", name, state, seconds)

    def run(self, stage: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``stage`` and return its result, raising if it failed."""
        start = time.perf_counter()
        state = self.configure(stage)(*args, return_state=True, **kwargs)
        self.record(stage.name, str(state.name), start)
        faults.checkpoint(f"after:{stage.name}")  # test hook; a no-op unless set
        return state.result()

    def configure(self, stage: Task[P, R]) -> Task[P, R]:
        """``stage`` with this run's retries (I/O tasks) and result storage (cached tasks)."""
        configured = with_retries(stage, self.retries)
        if configured.cache_policy is NO_CACHE:
            return configured
        return configured.with_options(**self._options)
