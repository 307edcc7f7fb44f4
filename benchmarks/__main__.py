"""``python -m benchmarks``: generate the data, check equivalence, run the cases interleaved,
print the tables and write the JSON (see ``benchmarks/README.md``)."""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR, mlf, report, table
from benchmarks.cli import BIG, BIG_CASES, QUICK_DAYS, QUICK_ROUNDS, parse_args
from benchmarks.environment import git_state, machine, raw_in_memory_mib, versions
from benchmarks.measure import write_json
from benchmarks.params import compose
from benchmarks.runner import CaseRun, CaseSpec, run_case, snapshot_code
from benchmarks.targets import evaluate_targets


def ensure_data(size: int, args: argparse.Namespace) -> tuple[Path, int]:
    """Generate ``size`` rows with the project's generator once; reuse while the marker matches."""
    from tasks.data.sources.generate import GeneratorSpec, ensure_dataset

    extra = {"days": QUICK_DAYS} if args.quick else {}
    root = args.data_dir / (f"quick-{size}" if args.quick else str(size))
    log(f"data: {size:,} rows at {root} ...")
    info = ensure_dataset(GeneratorSpec.for_rows(size, **extra), root)
    log(
        f"data: {info.rows:,} rows in {info.files} files "
        f"({'reused' if info.reused else 'generated'})"
    )
    return root.resolve(), info.rows


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench {dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def case_specs(cases: list[str], work: Path, size: int, round_no: int) -> list[CaseSpec]:
    """The cases of one round, in order (ours first: it saves what floor/mlforecast read)."""
    specs: list[CaseSpec] = []
    flow_dir = work / "flow"
    common = ["--work-dir", str(work)]
    if "ours" in cases:
        args = [*common, *(["--save-dir", str(work)] if round_no == 1 else [])]
        specs.append(CaseSpec("ours", "ours", args))
    if "pandas" in cases:
        specs.append(CaseSpec("pandas", "pandas", common))
    if "floor" in cases:
        specs.append(CaseSpec("floor", "floor", common))
    if "mlforecast" in cases:
        specs.append(CaseSpec("mlforecast", "mlforecast", common))
    if "flow" in cases:
        env = {
            "PREFECT_HOME": str(flow_dir / "home"),
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(flow_dir / "home" / "storage"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        flow_args = ["--output-path", str(flow_dir / "outputs")]
        specs.append(
            CaseSpec(
                "flow-cold",
                "flow",
                [*flow_args, "--replay", "after" if round_no % 2 else "before"],
                env,
                fresh_dirs=[flow_dir],
            )
        )
        specs.append(CaseSpec("flow-cached", "flow", flow_args, env))
    return specs


def cases_for(size: int, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The cases that run at ``size`` and why the others do not."""
    skipped: dict[str, str] = {}
    cases = list(args.cases)
    if size >= BIG:
        why = f"not run at {BIG:,} rows (only {', '.join(BIG_CASES)})"
        skipped.update({c: why for c in cases if c not in BIG_CASES})
        cases = [c for c in cases if c in BIG_CASES]
    if "pandas" in cases and size > args.pandas_max_rows:
        cases.remove("pandas")
        skipped["pandas"] = f"size > --pandas-max-rows {args.pandas_max_rows:,}"
    if "flow" in cases and size > args.flow_max_rows:
        cases.remove("flow")
        skipped["flow"] = f"size > --flow-max-rows {args.flow_max_rows:,}"
    if "mlforecast" in cases and not mlf.available():
        cases.remove("mlforecast")
        skipped["mlforecast"] = "mlforecast is not installed (uv sync --group bench)"
    return cases, skipped


def check(params: Path, work: Path, args: argparse.Namespace, size: int) -> dict[str, Any]:
    """Run the equivalence check (pandas and floor vs ours) in its own process."""
    log(f"equivalence check on {size:,} rows ...")
    run = run_case(CaseSpec("check", "check"), size, 0, params, work, args.mem_limit_gib * 1024)
    eq = run.result.get("info", {}).get("equivalence") or {
        "passed": False,
        "error": run.result.get("error"),
    }
    log(f"equivalence: {'PASS' if eq.get('passed') else 'FAIL'}")
    return {**eq, "size": size}


def run_size(
    size: int, args: argparse.Namespace, equivalence_ok: bool
) -> tuple[list[CaseRun], dict[str, str]]:
    """All rounds of all cases at one size, interleaved."""
    _root, _ = ensure_data(size, args)
    work = args.data_dir / "_work" / (f"quick-{size}" if args.quick else str(size))
    cases, skipped = cases_for(size, args)
    if "pandas" in cases and not equivalence_ok:
        cases.remove("pandas")
        skipped["pandas"] = "equivalence check failed: not timed"
    repeats = 1 if size >= BIG else args.repeats
    runs: list[CaseRun] = []
    for round_no in range(1, repeats + 1):
        for spec in case_specs(cases, work, size, round_no):
            run = run_case(
                spec, size, round_no, work / "params.json", work, args.mem_limit_gib * 1024
            )
            state = "ok" if run.ok else f"FAILED ({str(run.result.get('error', ''))[-200:]})"
            log(
                f"{size:,} round {round_no}/{repeats} {spec.label}: {run.wall_seconds:.1f} s, "
                f"peak RSS {float(run.result.get('peak_rss_mib', float('nan'))):.0f} MiB, {state}"
            )
            runs.append(run)
    return runs, skipped


def prepare_params(size: int, args: argparse.Namespace) -> tuple[Path, Path, int, float]:
    """Data and the composed config for one size.

    Returns (work dir, params file, raw rows, the raw rows' in-memory size in MiB).
    """
    root, rows = ensure_data(size, args)
    work = args.data_dir / "_work" / (f"quick-{size}" if args.quick else str(size))
    work.mkdir(parents=True, exist_ok=True)
    extra = [f"model.num_boost_round={QUICK_ROUNDS}"] if args.quick else []
    windows = (
        args.backtest_windows if args.backtest_windows is not None else (1 if args.quick else None)
    )
    compose(str(root), extra, windows).save(work / "params.json")
    return work, work / "params.json", rows, raw_in_memory_mib(root, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything; print the tables; write the JSON. Exit 1 if the equivalence failed."""
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    code = snapshot_code(args.data_dir / "_work" / "code")
    log(f"code under test copied to {code}")
    if args.series is not None:
        from benchmarks import series

        command = " ".join(["python -m benchmarks", *(argv or sys.argv[1:])])
        meta = {"command": command, "machine": machine(), "packages": versions()}
        meta["git"] = git_state()
        result = series.main(args, log, meta)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
        log(f"wrote {args.out}")
        return 0
    prepared = {size: prepare_params(size, args) for size in args.sizes}
    if args.generate_only:
        return 0
    eq: dict[str, Any] = {"passed": None}
    if "pandas" in args.cases or "floor" in args.cases:
        work, params, _, _ = prepared[args.sizes[0]]
        eq = check(params, work, args, args.sizes[0])
    result: dict[str, Any] = {
        "created": started.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(),
        "packages": versions(),
        "git": git_state(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "equivalence": eq,
        "sizes": {},
    }
    for size in args.sizes:
        runs, skipped = run_size(size, args, bool(eq.get("passed")))
        result["sizes"][str(size)] = {
            "rows": prepared[size][2],
            "raw_in_memory_mib": prepared[size][3],
            "summary": report.summarize(runs),
            "ratios": report.ratios(runs),
            "skipped": skipped,
            "runs": [r.to_dict() for r in runs],
        }
    result["targets"] = evaluate_targets(result)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(table.render(result))
    write(result, args)
    return 0 if eq.get("passed") in (True, None) else 1


def write(result: dict[str, Any], args: argparse.Namespace) -> None:
    """``--out`` and, for a full run, ``results/<date>-<sizes>.json`` too."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    log(f"wrote {args.out}")
    if not args.quick and not args.no_save_dated:
        label = "-".join(f"{s // 1_000_000}M" if s >= 1_000_000 else str(s) for s in args.sizes)
        dated = RESULTS_DIR / f"{dt.date.today().isoformat()}-{label}.json"
        write_json(dated, json.loads(json.dumps(result, default=str)))
        log(f"wrote {dated}")


if __name__ == "__main__":
    sys.exit(main())
