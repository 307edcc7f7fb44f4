"""In-process measurement for one case: wall time and peak RSS per stage.

Peak RSS comes from two sources: the kernel's high-water mark of this process's RSS (exact,
monotonic: its value after a stage is the peak of everything up to that stage) and a
psutil sampler thread (every ``interval`` seconds) that also sees the peak *within* a
stage and the RSS of child processes (the Prefect server of a flow run).
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024


def maxrss_mib() -> float:
    """This process's peak RSS so far, in MiB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: the high-water mark of this
    address space, which starts afresh at ``exec``. ``ru_maxrss`` does not: the kernel
    carries the parent's high-water mark over ``fork`` + ``exec``, so a child of a large
    parent would report at least the parent's peak. Elsewhere ``ru_maxrss`` is used.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / MIB


class Sampler:
    """Background thread recording the peak RSS of this process and of its process tree."""

    def __init__(self, interval: float = 0.01) -> None:
        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.window_peak = 0.0
        self.window_tree_peak = 0.0
        self.tree_peak = 0.0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _tree_rss(self) -> tuple[float, float]:
        own = self._proc.memory_info().rss
        tree = own
        for child in self._proc.children(recursive=True):
            try:
                tree += child.memory_info().rss
            except psutil.Error:
                continue
        return own / MIB, tree / MIB

    def sample(self) -> None:
        """Take one sample now."""
        own, tree = self._tree_rss()
        with self._lock:
            self.window_peak = max(self.window_peak, own)
            self.window_tree_peak = max(self.window_tree_peak, tree)
            self.tree_peak = max(self.tree_peak, tree)

    def reset_window(self) -> tuple[float, float]:
        """Return the peaks (own, process tree) since the last reset; start a new window."""
        self.sample()
        with self._lock:
            peaks = (self.window_peak, self.window_tree_peak)
            self.window_peak = self.window_tree_peak = 0.0
        return peaks

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sample()
            except psutil.Error:
                return

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Recorder:
    """Collects per-stage seconds and RSS for one case run, and writes them as JSON."""

    def __init__(self, case: str, sampler: Sampler) -> None:
        self.case = case
        self.sampler = sampler
        self.stages: dict[str, dict[str, float]] = {}
        self.info: dict[str, Any] = {}
        self.baseline_rss_mib = maxrss_mib()
        sampler.reset_window()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block; record its wall seconds, its sampled peak and the peak RSS after."""
        self.sampler.reset_window()
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        own, tree = self.sampler.reset_window()
        self.stages[name] = {
            "seconds": seconds,
            "stage_peak_rss_mib": own,
            "stage_tree_peak_rss_mib": tree,
            "maxrss_after_mib": maxrss_mib(),
        }

    def add(self, name: str, seconds: float, **extra: float) -> None:
        """Record a stage timed elsewhere (e.g. a flow step from the manifest)."""
        self.stages[name] = {"seconds": seconds, **extra}

    def result(self) -> dict[str, Any]:
        """Everything measured, JSON-able."""
        return {
            "case": self.case,
            "stages": self.stages,
            "baseline_rss_mib": self.baseline_rss_mib,
            "peak_rss_mib": maxrss_mib(),
            "tree_peak_rss_mib": self.sampler.tree_peak,
            "info": self.info,
        }


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, via a temp file and a rename."""
    target = Path(path)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(target)
