"""The report's plots, cached on a digest of what they show.

Each function here stands for the plot of the same name in :mod:`tasks.report.plots`:
it digests its arguments (frames by schema, height and row hashes; everything else by its
``repr``), plus :data:`PLOT_VERSION` and the library versions, and asks the store that
:func:`cached_in` installed for that key. Only on a miss is matplotlib imported and the
plot drawn (then stored). Without a store every call draws. A rerun on the same data
(the report is rebuilt every run: it names the run) then costs no drawing and no
matplotlib import.

What a store returns is checked (:meth:`Image.from_bytes`) before it is used; anything
else is redrawn and overwritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from importlib import metadata
from typing import Any, Protocol

import polars as pl

from tasks.report.image import Image

PLOT_VERSION = "1"  # bump when tasks/report/plots.py draws differently


class FigureStore(Protocol):
    """Where drawn plots are kept, by key."""

    def get(self, key: str) -> bytes | None:
        """The stored record, or None."""

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``."""


_STORE: ContextVar[FigureStore | None] = ContextVar("figure_store", default=None)


@contextlib.contextmanager
def cached_in(store: FigureStore | None) -> Iterator[None]:
    """Plots drawn inside this block are looked up in, and kept in, ``store``."""
    token = _STORE.set(store)
    try:
        yield
    finally:
        _STORE.reset(token)


def _versions() -> str:
    names = ("matplotlib", "polars", "numpy")
    return ";".join(f"{n}={metadata.version(n)}" for n in names)


def _feed(h: Any, value: Any) -> None:
    """Add ``value`` to the digest ``h`` (frames by content, the rest by ``repr``)."""
    if isinstance(value, pl.DataFrame):
        h.update(repr((value.schema, value.height)).encode())
        h.update(value.hash_rows(seed=0).to_numpy().tobytes())
        h.update(value.hash_rows(seed=1).to_numpy().tobytes())
    elif isinstance(value, dict):
        for k in sorted(value, key=repr):
            _feed(h, k)
            _feed(h, value[k])
    elif isinstance(value, list | tuple):
        h.update(f"[{len(value)}".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(repr(value).encode())
    h.update(b"|")


def digest(name: str, *args: Any, **kwargs: Any) -> str:
    """The cache key of plot ``name`` drawn from these arguments."""
    h = hashlib.sha256(f"{name};{PLOT_VERSION};{_versions()}".encode())
    _feed(h, list(args))
    _feed(h, kwargs)
    return f"{name}-{h.hexdigest()[:32]}"


def _cached(name: str, draw: Callable[[], Image], *args: Any, **kwargs: Any) -> Image:
    store = _STORE.get()
    if store is None:
        return draw()
    key = digest(name, *args, **kwargs)
    record = store.get(key)
    if record is not None:
        with contextlib.suppress(ValueError):
            return Image.from_bytes(record, key)
    image = draw()
    store.put(key, image.to_bytes())
    return image


def series_plot(
    history: pl.DataFrame, backtest: pl.DataFrame, forecasts: pl.DataFrame, methods: Sequence[str]
) -> Image:
    """:func:`tasks.report.plots.series_plot`, cached."""

    def draw() -> Image:
        from tasks.report import plots  # noqa: PLC0415 (matplotlib only on a cache miss)

        return plots.series_plot(history, backtest, forecasts, methods)

    return _cached("series", draw, history, backtest, forecasts, list(methods))


def segment_plot(
    rows: list[tuple[str, dict[str, float | None]]], methods: Sequence[str], wide: bool = False
) -> Image:
    """:func:`tasks.report.plots.segment_plot`, cached."""

    def draw() -> Image:
        from tasks.report import plots  # noqa: PLC0415 (matplotlib only on a cache miss)

        return plots.segment_plot(rows, methods, wide=wide)

    return _cached("segment", draw, rows, list(methods), wide=wide)


def horizon_plot(steps: list[int], wapes: dict[str, list[float | None]]) -> Image:
    """:func:`tasks.report.plots.horizon_plot`, cached."""

    def draw() -> Image:
        from tasks.report import plots  # noqa: PLC0415 (matplotlib only on a cache miss)

        return plots.horizon_plot(steps, wapes)

    return _cached("horizon", draw, steps, wapes)


def importance_plot(pairs: list[tuple[str, float]]) -> Image:
    """:func:`tasks.report.plots.importance_plot`, cached."""

    def draw() -> Image:
        from tasks.report import plots  # noqa: PLC0415 (matplotlib only on a cache miss)

        return plots.importance_plot(pairs)

    return _cached("importance", draw, pairs)


def realised_plot(
    origins: Sequence[dt.date],
    wape: Sequence[float | None],
    bias: Sequence[float | None],
    backtest_wape: float | None = None,
    limit: float | None = None,
) -> Image:
    """:func:`tasks.report.plots.realised_plot`, cached."""

    def draw() -> Image:
        from tasks.report import plots  # noqa: PLC0415 (matplotlib only on a cache miss)

        return plots.realised_plot(origins, wape, bias, backtest_wape, limit)

    args = (list(origins), list(wape), list(bias), backtest_wape, limit)
    return _cached("realised", draw, *args)
