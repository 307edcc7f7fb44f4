"""Seeded generator of raw, transaction-level retail sales with realistic structure and defects.

Raw contract: ``date`` (``pl.Date`` in parquet, ISO string in CSV), ``store_id``,
``region``, ``product_type`` (String), ``units`` (Int64), ``unit_price``,
``revenue`` (Float64), ``promo`` (Boolean). Datasets are hive-partitioned by
*arrival* date (``root/date=YYYY-MM-DD/part-N.parquet``), which differs from the
``date`` column for late rows: read them with ``hive_partitioning=False``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import itertools
import json
import logging
import math
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import holidays
import numpy as np
import numpy.typing as npt
import polars as pl

from tasks.data.sources.defects import DEFECT_NAMES, DefectRates, add_duplicates_and_arrival, count_defects, inject_row_defects

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump when the generated data changes for an unchanged spec
MARKER = "_generator.json"
FORMATS = ("parquet", "csv")
_MAX_TPD = 30.0  # for_rows adds stores rather than exceed this many transactions per series-day
_NB_SHAPE = 10.0  # negative-binomial shape of the transaction counts (overdispersion)
_PRICE_NOISE = 0.03
_PROMO_DAYS = (3, 7)  # promotion run length, uniform in [lo, hi]
_Array = npt.NDArray[Any]


class _Profile(NamedTuple):
    price: float  # mean unit price
    basket: float  # mean units per transaction (>= 1)
    traffic: float  # relative transaction level
    trend: float  # yearly growth
    weekend: float  # Sat/Sun multiplier vs Mon-Thu (Friday halfway)
    peak_doy: float  # day of year of the yearly peak
    amplitude: float  # yearly seasonality amplitude
    holiday: float  # multiplier on public holidays
    xmas: float  # multiplier reached on Dec 24 (ramping up from Dec 11)


_PROFILES = {
    "grocery": _Profile(4.5, 4.0, 2.0, 0.05, 1.2, 350, 0.08, 0.6, 1.4),
    "electronics": _Profile(180.0, 1.1, 0.5, 0.12, 1.45, 355, 0.45, 1.35, 2.0),
    "clothing": _Profile(35.0, 1.8, 1.0, 0.06, 1.6, 190, 0.25, 1.2, 1.5),
    "home": _Profile(45.0, 1.5, 0.8, 0.08, 1.35, 120, 0.15, 1.15, 1.2),
    "toys": _Profile(25.0, 1.6, 0.6, 0.10, 1.55, 355, 0.55, 1.1, 2.3),
    "sports": _Profile(55.0, 1.3, 0.7, 0.15, 1.4, 190, 0.35, 1.1, 1.3),
}
# Bounds of the profile drawn for a product type without a built-in one.
_RANDOM_PROFILE = (
    (5, 1.2, 1, 0.05, 1.1, 0, 0.05, 0.8, 1),
    (100, 2.5, 1, 0.15, 1.5, 365, 0.3, 1.2, 1.5),
)


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything that determines a generated dataset (see module docstring)."""

    seed: int = 42
    start: str = "2023-01-01"
    days: int = 730
    regions: tuple[str, ...] = ("north", "south", "east", "west")
    product_types: tuple[str, ...] = tuple(_PROFILES)
    stores_per_region: int = 3
    transactions_per_day: float = 3.0
    promo_rate: float = 0.08
    promo_lift: float = 0.35
    late_max_days: int = 7
    holiday_country: str = "US"
    file_format: str = "parquet"
    defects: DefectRates = field(default_factory=DefectRates)

    def validate(self) -> None:
        """Check every field.

        Raises
        ------
        ValueError
            Naming the first invalid field and its value.
        """
        tpd, rate, lift = self.transactions_per_day, self.promo_rate, self.promo_lift
        checks = [
            ("seed", _is_int(self.seed) and self.seed >= 0, "must be an int >= 0"),
            ("start", _is_iso(self.start), "must be an ISO date (YYYY-MM-DD)"),
            ("days", _is_int(self.days) and self.days >= 1, "must be an int >= 1"),
            ("regions", _are_names(self.regions), "must be a non-empty tuple of unique names"),
            ("product_types", _are_names(self.product_types), "must be a tuple of unique names"),
            ("stores_per_region", _is_int(self.stores_per_region) and self.stores_per_region >= 1,
             "must be an int >= 1"),
            ("transactions_per_day", _is_num(tpd) and 0 < tpd < math.inf, "must be > 0"),
            ("promo_rate", _is_num(rate) and 0 <= rate < 1, "must be in [0, 1)"),
            ("promo_lift", _is_num(lift) and -1 < lift < math.inf, "must be > -1"),
            ("late_max_days", _is_int(self.late_max_days) and self.late_max_days >= 1,
             "must be an int >= 1"),
            ("holiday_country", _is_country(self.holiday_country), "is not supported by holidays"),
            ("file_format", self.file_format in FORMATS, f"must be one of {FORMATS}"),
            ("defects", isinstance(self.defects, DefectRates), "must be a DefectRates"),
        ]  # fmt: skip
        for name, ok, expectation in checks:
            _check(ok, name, getattr(self, name), expectation)
        self.defects.validate()

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-able dict in field order (tuples become lists)."""
        d = asdict(self)
        d["regions"], d["product_types"] = list(self.regions), list(self.product_types)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeneratorSpec:
        """Build a spec from :meth:`to_dict` output (lists or tuples; unknown keys raise)."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"GeneratorSpec.from_dict: unknown keys {sorted(unknown)}")
        kw = dict(d)
        for name in ("regions", "product_types"):
            if name in kw:
                kw[name] = tuple(kw[name])
        if isinstance(kw.get("defects"), Mapping):
            try:
                kw["defects"] = DefectRates(**kw["defects"])
            except TypeError as exc:
                raise ValueError(f"GeneratorSpec.from_dict: bad defects {kw['defects']!r}") from exc
        return cls(**kw)

    @classmethod
    def for_rows(cls, rows: int, **overrides: Any) -> GeneratorSpec:
        """Spec whose expected row count over ``days`` is about ``rows``.

        Parameters
        ----------
        rows
            Target number of output rows (duplicates included).
        **overrides
            Any other field; ``transactions_per_day`` is always recomputed, and
            ``stores_per_region`` is raised when transactions per series-day
            would exceed ``_MAX_TPD``.

        Returns
        -------
        GeneratorSpec
        """
        _check(_is_int(rows) and rows >= 1, "rows", rows, "must be an int >= 1")
        spec = replace(cls(**overrides), transactions_per_day=1.0)
        tpd = rows / expected_rows(spec)
        if tpd > _MAX_TPD:
            stores = math.ceil(spec.stores_per_region * tpd / _MAX_TPD)
            spec = replace(spec, stores_per_region=stores)
            tpd = rows / expected_rows(spec)
        return replace(spec, transactions_per_day=round(tpd, 6))


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`write_dataset` / :func:`ensure_dataset` produced or found."""

    root: str
    rows: int
    files: int
    defect_counts: dict[str, int]
    reused: bool


def _check(ok: bool, name: str, value: object, expectation: str) -> None:
    if not ok:
        raise ValueError(f"GeneratorSpec.{name} {expectation}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_iso(value: object) -> bool:
    try:
        return isinstance(value, str) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


def _are_names(values: object) -> bool:
    if not isinstance(values, tuple) or not values or len(set(values)) != len(values):
        return False
    return all(isinstance(v, str) and v for v in values)


def _is_country(country: object) -> bool:
    return isinstance(country, str) and country_supported(country)


@functools.lru_cache(maxsize=64)
def country_supported(country: str) -> bool:
    """True when the ``holidays`` package knows ``country`` (an ISO code such as ``US``)."""
    try:
        holidays.country_holidays(country, years=[])
    except NotImplementedError:
        return False
    return True


class _Model(NamedTuple):
    """Day-independent parameters of a spec."""

    start: dt.date
    last: dt.date
    profiles: _Array  # (P, 9): the _Profile fields of each product type
    level: _Array  # (S, P) relative transaction level of each series, mean 1
    store_region: _Array  # (S,) region index of each store
    store_ids: pl.Series
    holidays: _Array  # datetime64[D] public holidays in the spec's years


@functools.lru_cache(maxsize=16)
def _model(spec: GeneratorSpec) -> _Model:
    spec.validate()
    rng = np.random.default_rng([spec.seed, 0])  # day streams use ordinals >= 1
    n_regions, n_products = len(spec.regions), len(spec.product_types)
    store_region = np.repeat(np.arange(n_regions), spec.stores_per_region)
    region_w = rng.permutation(np.linspace(0.8, 1.25, n_regions))
    store_w = rng.lognormal(0.0, 0.2, store_region.size)
    mix = rng.lognormal(0.0, 0.1, (n_regions, n_products))
    profiles = np.array([_PROFILES.get(p) or _random_profile(rng) for p in spec.product_types])
    level = (region_w[store_region] * store_w)[:, None] * mix[store_region] * profiles[:, 2]
    start = dt.date.fromisoformat(spec.start)
    last = start + dt.timedelta(days=spec.days - 1)
    years = range(start.year, last.year + 1)
    hol = np.array(sorted(holidays.country_holidays(spec.holiday_country, years=years)), "M8[D]")
    ids = pl.Series([f"S{i + 1:04d}" for i in range(store_region.size)], dtype=pl.String)
    return _Model(start, last, profiles, level / level.mean(), store_region, ids, hol)


def _random_profile(rng: np.random.Generator) -> _Profile:
    return _Profile(*rng.uniform(*_RANDOM_PROFILE))


def _seasonality(m: _Model, days: _Array) -> _Array:
    """Multipliers (D, P): weekly x yearly x trend x holiday x Christmas run-up."""
    pr = {name: m.profiles[:, i] for i, name in enumerate(_Profile._fields)}
    num = days.astype(np.int64)[:, None]
    dow = (num + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    friday = 1 + (pr["weekend"] - 1) / 2
    weekly = np.where(dow >= 5, pr["weekend"], np.where(dow == 4, friday, 1.0))
    weekly /= (4 + friday + 2 * pr["weekend"]) / 7
    year = days.astype("M8[Y]")
    doy = (days - year.astype("M8[D]")).astype(np.int64)[:, None]
    yearly = 1 + pr["amplitude"] * np.cos(2 * np.pi * (doy - pr["peak_doy"]) / 365.25)
    trend = (1 + pr["trend"]) ** ((num - np.datetime64(m.start, "D").astype(np.int64)) / 365.25)
    holiday = np.where(np.isin(days, m.holidays)[:, None], pr["holiday"], 1.0)
    to_xmas = ((year.astype("M8[M]") + 11).astype("M8[D]") + 24 - days).astype(np.int64)[:, None]
    ramp = np.where((to_xmas >= 1) & (to_xmas <= 14), (15 - to_xmas) / 14, 0.0)
    out: _Array = weekly * yearly * trend * holiday * (1 + (pr["xmas"] - 1) * ramp)
    return out


def _promo_flags(spec: GeneratorSpec, n_series: int, ordinal: int) -> _Array:
    """Promo per series: runs start with a daily probability and last 3-7 days."""
    lo, hi = _PROMO_DAYS
    p_start = -math.log1p(-spec.promo_rate) / ((lo + hi) / 2)  # so that P(on) ~= promo_rate
    on = np.zeros(n_series, dtype=bool)
    for lag in range(hi):
        rng = np.random.default_rng([spec.seed, ordinal - lag, 1])
        starts = rng.random(n_series) < p_start
        on |= starts & (rng.integers(lo, hi + 1, n_series) > lag)
    return on


def _unique_cents(series: _Array, units: _Array, cents: _Array) -> _Array:
    """Raise prices by a few cents so no two transactions of a series-day are identical.

    Within each (series, units) group, sorted by price, the i-th price becomes
    ``max(price_i, price_{i-1} + 1)``: a group-wise running maximum of ``cents - rank``.
    """
    order = np.lexsort((cents, units, series))
    s, u, c = series[order], units[order], cents[order]
    new_group = np.ones(c.size, dtype=bool)
    new_group[1:] = (s[1:] != s[:-1]) | (u[1:] != u[:-1])
    group = np.cumsum(new_group) - 1
    rank = np.arange(c.size) - np.flatnonzero(new_group)[group]
    shifted = c - rank + c.size  # >= 0
    span = int(shifted.max(initial=0)) + 1
    running = np.maximum.accumulate(group * span + shifted) - group * span
    out = np.empty_like(cents)
    out[order] = running - c.size + rank
    return out


def _clean_day(
    spec: GeneratorSpec, m: _Model, day: dt.date, rng: np.random.Generator
) -> pl.DataFrame:
    season = _seasonality(m, np.array([day], dtype="M8[D]"))[0]
    mu = spec.transactions_per_day * (m.level * season).ravel()
    series = np.repeat(
        np.arange(mu.size), rng.negative_binomial(_NB_SHAPE, _NB_SHAPE / (_NB_SHAPE + mu))
    )
    store, product = np.divmod(series, len(spec.product_types))
    on = _promo_flags(spec, mu.size, day.toordinal())[series]
    basket = m.profiles[product, 1] * np.where(on, 1 + spec.promo_lift, 1.0)
    units = 1 + rng.poisson(np.maximum(basket - 1, 0.0))
    discount = rng.uniform(0.10, 0.20, mu.size)[series] * on
    noise = 1 + rng.normal(0.0, _PRICE_NOISE, series.size)
    cents = np.maximum(np.round(m.profiles[product, 0] * noise * (1 - discount) * 100), 1)
    cents = _unique_cents(series, units, cents.astype(np.int64))
    return pl.DataFrame(
        {
            "store_id": m.store_ids.gather(store),
            "region": pl.Series(spec.regions, dtype=pl.String).gather(m.store_region[store]),
            "product_type": pl.Series(spec.product_types, dtype=pl.String).gather(product),
            "units": pl.Series(units, dtype=pl.Int64),
            "unit_price": pl.Series(cents / 100, dtype=pl.Float64),
            "revenue": pl.Series(units * cents / 100, dtype=pl.Float64),
            "promo": pl.Series(on, dtype=pl.Boolean),
        }
    ).select(pl.lit(day.isoformat() if spec.file_format == "csv" else day).alias("date"), pl.all())


def _day_frame(spec: GeneratorSpec, day: dt.date) -> pl.DataFrame:
    """Rows whose true date is ``day``, with defects plus ``_dup`` and ``_partition``."""
    m = _model(spec)
    if not m.start <= day <= m.last:
        raise ValueError(f"day {day} is outside the spec's range {m.start}..{m.last}")
    rng = np.random.default_rng([spec.seed, day.toordinal()])
    csv, regions, products = spec.file_format == "csv", spec.regions, spec.product_types
    frame = _clean_day(spec, m, day, rng)
    frame = inject_row_defects(
        frame, rng, spec.defects, day=day, csv=csv, regions=regions, product_types=products
    )
    return add_duplicates_and_arrival(
        frame, rng, spec.defects, day=day, last_day=m.last, late_max_days=spec.late_max_days
    )


def _days(spec: GeneratorSpec) -> list[dt.date]:
    start = dt.date.fromisoformat(spec.start)
    return [start + dt.timedelta(days=i) for i in range(spec.days)]


def expected_rows(spec: GeneratorSpec) -> float:
    """Expected number of output rows of ``spec`` (duplicates included)."""
    season = _seasonality(m := _model(spec), np.array(_days(spec), dtype="M8[D]")).sum(axis=0)
    tpd, dup = spec.transactions_per_day, spec.defects.duplicate
    return float(tpd * (m.level * season).sum() * (1 + dup))


def generate_day(spec: GeneratorSpec, day: dt.date) -> pl.DataFrame:
    """Generate the transactions whose true date is ``day``.

    Parameters
    ----------
    spec
        Generator spec; ``day`` must lie in its date range.
    day
        The true transaction date.

    Returns
    -------
    polars.DataFrame
        Raw contract columns, defects included except late-arrival relocation.
        Seeded from ``(spec.seed, day.toordinal())`` only, so days can be
        generated in any order.
    """
    return _day_frame(spec, day).drop("_dup", "_partition")


def generate_frame(spec: GeneratorSpec) -> pl.DataFrame:
    """Generate the whole dataset in memory (for tests and small sizes).

    Returns
    -------
    polars.DataFrame
        All rows in true-date order plus ``_partition`` (arrival date, ``pl.Date``).
    """
    return pl.concat([_day_frame(spec, day).drop("_dup") for day in _days(spec)])


def _split_points(is_copy: _Array, rows_per_file: int) -> list[int]:
    """File boundaries every ``rows_per_file`` rows, never between a row and its copy."""
    n = is_copy.size
    cuts = {b + int(is_copy[b]) for b in range(rows_per_file, n, rows_per_file)} - {n}
    return [0, *sorted(cuts), n]


def _write_partition(frame: pl.DataFrame, directory: Path, fmt: str, rows_per_file: int) -> int:
    """Write one arrival-date partition as ``part-N`` files; return the number of files."""
    directory.mkdir(parents=True)
    bounds = _split_points(frame["_dup"].to_numpy(), rows_per_file)
    data = frame.drop("_dup", "_partition")
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        chunk, path = data.slice(lo, hi - lo), directory / f"part-{i}.{fmt}"
        chunk.write_csv(path) if fmt == "csv" else chunk.write_parquet(path)
    return len(bounds) - 1


def _write_partitions(spec: GeneratorSpec, out: Path, rows_per_file: int) -> dict[str, Any]:
    """Generate day by day; late rows wait in a buffer keyed by arrival date. Return the marker."""
    totals, rows, files = dict.fromkeys(DEFECT_NAMES, 0), 0, 0
    carry: dict[dt.date, list[pl.DataFrame]] = {}
    csv, regions, products = spec.file_format == "csv", spec.regions, spec.product_types
    for day in _days(spec):
        frame = _day_frame(spec, day)
        counts = count_defects(frame, day=day, csv=csv, regions=regions, product_types=products)
        totals = {k: totals[k] + counts[k] for k in DEFECT_NAMES}
        for (arrival,), part in frame.partition_by("_partition", as_dict=True).items():
            carry.setdefault(arrival, []).append(part)
        parts = carry.pop(day, [])
        partition = pl.concat(parts) if parts else frame.clear()
        files += _write_partition(partition, out / f"date={day}", spec.file_format, rows_per_file)
        rows += partition.height
    if carry:
        raise RuntimeError(f"late rows left for arrival dates {sorted(carry)}")
    return {"generator_version": GENERATOR_VERSION, "spec": spec.to_dict(), "rows": rows,
            "files": files, "rows_per_file": rows_per_file, "defect_counts": totals}  # fmt: skip


def _read_marker(root: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _complete(root: Path, marker: Mapping[str, Any] | None, version: object, spec: object) -> bool:
    """Whether ``marker`` is for ``version``/``spec`` and all its data files are present."""
    if marker is None or (marker.get("generator_version"), marker.get("spec")) != (version, spec):
        return False
    pattern = f"date=*/part-*.{marker['spec']['file_format']}"
    return sum(1 for _ in root.glob(pattern)) == marker.get("files")


def _install(tmp: Path, root: Path, marker: Mapping[str, Any]) -> None:
    """Rename ``tmp`` to ``root``, replacing a generated ``root`` with another or no marker."""
    if not root.exists():
        tmp.rename(root)
        return
    old = _read_marker(root)
    if _complete(root, old, marker["generator_version"], marker["spec"]):
        shutil.rmtree(tmp)  # an identical dataset was installed meanwhile
        return
    foreign = [
        p.name for p in root.iterdir() if p.name != MARKER and not p.name.startswith("date=")
    ]
    if old is None and foreign:
        raise FileExistsError(f"{root} exists and is not a generated dataset (has {foreign[:3]})")
    trash = root.with_name(f".{root.name}.old-{uuid.uuid4().hex[:12]}")
    root.rename(trash)
    tmp.rename(root)
    shutil.rmtree(trash)


def _info(root: Path, marker: Mapping[str, Any], *, reused: bool) -> DatasetInfo:
    counts = {k: int(marker["defect_counts"][k]) for k in DEFECT_NAMES}
    return DatasetInfo(str(root), int(marker["rows"]), int(marker["files"]), counts, reused)


def write_dataset(
    spec: GeneratorSpec, root: str | Path, rows_per_file: int = 1_000_000
) -> DatasetInfo:
    """Generate ``spec`` into ``root/date=YYYY-MM-DD/part-N.<format>`` (partition = arrival date).

    Memory stays bounded by one day plus the late-row buffer. Files are written
    into a sibling temp dir, the ``_generator.json`` marker last, then the temp
    dir is renamed to ``root`` (an existing generated ``root`` is replaced).

    Parameters
    ----------
    spec
        What to generate.
    root
        Dataset directory.
    rows_per_file
        Maximum rows per file (+1 so a duplicate stays with its original).

    Returns
    -------
    DatasetInfo
        With ``reused=False``.
    """
    spec.validate()
    _check(_is_int(rows_per_file) and rows_per_file >= 1, "rows_per_file", rows_per_file, ">= 1")
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f".{root.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        marker = _write_partitions(spec, tmp, rows_per_file)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2))
        _install(tmp, root, marker)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    rows, files, defects = marker["rows"], marker["files"], marker["defect_counts"]
    logger.info("Wrote %d rows in %d files to %s; defects %s", rows, files, root, defects)
    return _info(root, marker, reused=False)


def ensure_dataset(
    spec: GeneratorSpec, root: str | Path, rows_per_file: int = 1_000_000
) -> DatasetInfo:
    """Reuse the dataset at ``root`` if its marker matches ``spec``, else (re)generate it.

    Parameters
    ----------
    spec
        What the dataset must contain.
    root
        Dataset directory.
    rows_per_file
        Passed to :func:`write_dataset` when generating.

    Returns
    -------
    DatasetInfo
        ``reused=True`` when the marker (generator version and spec) matched and
        all its files were present.
    """
    spec.validate()
    root = Path(root)
    marker = _read_marker(root)
    if _complete(root, marker, GENERATOR_VERSION, spec.to_dict()) and marker is not None:
        logger.info(
            "Reusing dataset at %s (%d rows, %d files)", root, marker["rows"], marker["files"]
        )
        return _info(root, marker, reused=True)
    logger.info("Generating dataset at %s (%s)", root, "no marker" if marker is None else "stale")
    return write_dataset(spec, root, rows_per_file)


def _row_count(text: str) -> int:
    return int(float(text))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m tasks.generate --out DIR [--rows N] [--days N] ...``."""
    parser = argparse.ArgumentParser(prog="python -m tasks.generate", description=__doc__)
    parser.add_argument("--out", required=True, help="dataset root directory")
    parser.add_argument("--rows", type=_row_count, help="target row count, e.g. 1e7")
    parser.add_argument("--days", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--start", help="first date, YYYY-MM-DD")
    parser.add_argument("--format", dest="file_format", choices=FORMATS)
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    names = ("days", "seed", "start", "file_format")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    try:
        if args.rows is None:
            spec = GeneratorSpec(**overrides)
        else:
            spec = GeneratorSpec.for_rows(args.rows, **overrides)
        info = (write_dataset if args.force else ensure_dataset)(spec, args.out, args.rows_per_file)
    except ValueError as exc:
        parser.error(str(exc))
    state = "reused" if info.reused else "generated"
    logger.info(
        "Dataset %s ready (%s): %d rows in %d files", info.root, state, info.rows, info.files
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
