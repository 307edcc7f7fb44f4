"""Where the heavy steps run (``runner``): in the flow's process, or on a Dask cluster.

``runner=local`` (the default) runs train and evaluate as ordinary steps. ``runner=dask``
opens prefect-dask's :class:`~prefect_dask.DaskTaskRunner` for the run: on the scheduler at
``runner.address``, else on a cluster it creates (a ``distributed.LocalCluster`` of
``runner.n_workers`` processes, or with ``runner.cluster=kubernetes`` a dask-kubernetes
operator ``KubeCluster``) and closes after the run. The backtest windows then run as
parallel ``backtest-window`` tasks on the workers and are scored in the flow; the final
members train in the flow's process. (``runner.distributed_training``, LightGBM's own Dask
training in :mod:`tasks.model.distributed`, is refused until it trains the combination's
members.) Window results equal the in-process backtest's (same code, same seeds).
"""

# ruff: noqa: PLC0415  (prefect-dask and distributed are imported only when runner=dask)

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
from prefect import Task

from flows.config import KubernetesClusterConfig, RunnerConfig
from flows.steps import Steps
from tasks.model import backtest as backtesting
from tasks.model.backtest import BacktestParams, BacktestResult
from tasks.model.features import FeatureSpec
from tasks.model.train import TrainParams
from tasks.stages import backtest_window_task, evaluate_task


def local_cluster_kwargs(rc: RunnerConfig) -> dict[str, Any]:
    """A LocalCluster of worker processes on 127.0.0.1 (its dashboard on a free port)."""
    return {
        "n_workers": rc.n_workers,
        "threads_per_worker": rc.threads_per_worker,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",  # a free port: never collide on a shared host
    }


# Passed from the flow run's environment to the Dask pods: where the Prefect API is (the
# window tasks report to it) and where data and the task cache live. Never secrets: those
# come from ``runner.kubernetes.env_from`` (envFrom).
FORWARDED_ENV = (
    "PREFECT_API_URL",
    "SALES_INPUT_PATH",
    "SALES_OUTPUT_PATH",
    "SALES_CACHE_KEY_BLOCK",
    "OMP_WAIT_POLICY",
)


def dask_cluster_spec(k: KubernetesClusterConfig, env: dict[str, str]) -> dict[str, Any]:
    """The ``DaskCluster`` resource (dask-kubernetes operator) for ``runner.kubernetes``.

    Worker requests equal limits (Guaranteed QoS): a worker is neither throttled below its
    LightGBM threads nor the first evicted under memory pressure. Pods run as non-root with
    the image's user, like the flow-run Job.
    """
    from dask_kubernetes.operator import make_cluster_spec

    worker = {"cpu": k.worker_cpu, "memory": k.worker_memory}
    spec: dict[str, Any] = make_cluster_spec(
        name=k.name, image=k.image, n_workers=k.n_workers, env={**env, "OMP_WAIT_POLICY": "PASSIVE"}
    )
    scheduler = {"cpu": k.scheduler_cpu, "memory": k.scheduler_memory}
    for role, resources in (("worker", worker), ("scheduler", scheduler)):
        pod = spec["spec"][role]["spec"]
        pod["securityContext"] = {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        if k.service_account:
            pod["serviceAccountName"] = k.service_account
        (container,) = pod["containers"]
        container["resources"] = {"requests": resources, "limits": resources}
        container["imagePullPolicy"] = "IfNotPresent"
        container["securityContext"] = {"allowPrivilegeEscalation": False}
        container["envFrom"] = [{"secretRef": {"name": n, "optional": True}} for n in k.env_from]
    return spec


def kube_cluster_kwargs(k: KubernetesClusterConfig) -> dict[str, Any]:
    """``KubeCluster`` arguments: the resource above, in ``runner.kubernetes.namespace``,
    deleted when the flow run closes the task runner."""
    env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    return {
        "custom_cluster_spec": dask_cluster_spec(k, env),
        "namespace": k.namespace,
        "shutdown_on_close": True,
    }


def task_runner(rc: RunnerConfig) -> Any:
    """prefect-dask's task runner for ``runner`` (joins ``address`` or creates a cluster)."""
    from prefect_dask.task_runners import DaskTaskRunner

    if rc.address:
        return DaskTaskRunner(address=rc.address)
    if rc.cluster == "kubernetes":
        return DaskTaskRunner(
            cluster_class="dask_kubernetes.operator.KubeCluster",
            cluster_kwargs=kube_cluster_kwargs(rc.kubernetes),
        )
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster", cluster_kwargs=local_cluster_kwargs(rc)
    )


@contextmanager
def session(rc: RunnerConfig) -> Iterator[Any]:
    """The open task runner for ``runner=dask`` (closed, with its cluster, on exit), else None."""
    if rc.name != "dask":
        yield None
        return
    with task_runner(rc) as runner:
        yield runner


def evaluate(
    steps: Steps,
    runner: Any,
    *,
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
    stage: Task[..., BacktestResult] = evaluate_task,
) -> BacktestResult:
    """The backtest: one step (``stage``) in process, or one task per window on the Dask
    workers (recorded under ``stage``'s name; window results are cached by content, so
    re-scoring a champion with this run's settings costs nothing)."""
    if runner is None:
        return steps.run(stage, panel=panel, spec=spec, params=params, train=train)
    start = time.perf_counter()
    starts = backtesting.window_origins(panel, spec, params)
    window = steps.configure(backtest_window_task)
    futures = [
        runner.submit(
            window,
            parameters={
                "panel": panel,
                "origin": o,
                "spec": spec,
                "params": params,
                "train": train,
            },
        )
        for o in starts
    ]
    parts = [f.result() for f in futures]
    result = backtesting.score(parts, starts, spec, params)
    steps.record(stage.name, "Completed", start)
    return result
