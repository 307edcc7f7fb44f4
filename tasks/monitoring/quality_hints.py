"""What probably caused a data-quality check to fire, and the key to set: one line per check.

The hint goes into the check's record (``quality.json``) and into the error that fails a
run, so the person reading it knows where to look first.
"""

from __future__ import annotations

from typing import Any

from tasks.data.clean import REASON_FIXES

ALIASES = "preprocessing.category_aliases.<column>.<variant>=<value>"
HINTS = {
    "duplicate_rate": "the same rows arrive in several files: look for copied files under "
    "data.input_path",
    "late_rate": "rows are dated well before the date= folder they arrived in: check the "
    "export, or widen data.late_tolerance_days",
    "volume_drop": "fewer rows than usual: are files missing under data.input_path?",
    "volume_rise": "more rows than usual: files copied twice, or data.input_path wider than "
    "before?",
    "vanished_series_rate": "series of the previous run are gone: a category renamed or "
    f"respelled? map the new spelling to the old one with {ALIASES}",
    "new_series": "new series: if they are respellings of known ones, map them with "
    f"{ALIASES}; list the valid values in data.allowed_categories.<column>",
    "new_categories": "new values of the series keys: if they are respellings, map them with "
    f"{ALIASES}; list the valid values in data.allowed_categories.<column>",
    "coverage_gaps": "whole periods without any sales: are files missing for those dates "
    "under data.input_path?",
    "filled_rate": "many series have few sales. Likely: category spellings split one series "
    f"into several (keep preprocessing.normalize_categories=true, map variants with {ALIASES}, "
    "or list the valid values in data.allowed_categories.<column>); data.series_keys finer "
    "than the data; or data.frequency finer than your sales (try data.frequency=1w)",
}


def hint(name: str, report: dict[str, Any]) -> str:
    """The likely cause of check ``name`` firing and the keys to set (threshold included)."""
    threshold = f"monitoring.quality.{name.split('.', maxsplit=1)[0]}.hard"
    if name == "quarantine_rate":
        reasons = report.get("quarantine_by_reason") or {}
        top = max(sorted(reasons), key=lambda r: reasons[r], default=None)
        cause = f"most quarantined rows are {top}: {REASON_FIXES[top]}" if top else ""
    elif name.startswith("null_rate."):
        column = name.removeprefix("null_rate.")
        cause = (
            f"column {column} is mostly empty: if your files call it something else, map it "
            f"with data.columns.{column}=<your column>"
        )
    else:
        cause = HINTS.get(name, "")
    raise_it = f"if this is expected, raise {threshold}"
    return f"{cause}; {raise_it}" if cause else raise_it
