"""Category normalisation: one spelling per category value, a counted clean rule.

``" North"``, ``"NORTH"`` and ``"north"`` are one region: values of the category columns
(the series keys, and every column named in ``data.allowed_categories`` or
``preprocessing.category_aliases``) are trimmed, runs of spaces collapsed and lower-cased,
then mapped through the aliases (``{"nord": "north"}``, written in any case). Allowed
values are compared in the same form. The values as they arrived stay in ``__raw_<column>``
for the quarantine; rows whose spelling changed are flagged in :data:`NORMALISED` and
counted (``rows_normalised``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

NORMALISED = "__normalised"
RAW_PREFIX = "__raw_"


def fold_text(value: str) -> str:
    """One value in normal form: trimmed, inner spaces collapsed, lower-cased."""
    return " ".join(value.split()).lower()


def fold(expr: pl.Expr) -> pl.Expr:
    """:func:`fold_text` as a Polars expression."""
    return expr.str.strip_chars().str.replace_all(r"\s+", " ").str.to_lowercase()


def folded_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    """``aliases`` with both sides in normal form."""
    return {fold_text(k): fold_text(v) for k, v in aliases.items()}


def folded_allowed(allowed: Iterable[str]) -> list[str]:
    """Allowed values in normal form, first spelling kept, order kept."""
    return list(dict.fromkeys(fold_text(v) for v in allowed))


def normalise(
    raw: pl.LazyFrame,
    columns: Iterable[str],
    aliases: Mapping[str, Mapping[str, str]],
    folded: bool = True,
) -> pl.LazyFrame:
    """``raw`` with each of ``columns`` (those it has) in normal form and aliases applied;
    with ``folded=False`` only the aliases, exactly as written, on the aliased columns.

    Adds ``__raw_<column>`` (the value as it arrived) per column and :data:`NORMALISED`
    (true where any value changed).
    """
    wanted = columns if folded else aliases
    present = [c for c in dict.fromkeys(wanted) if c in raw.collect_schema().names()]
    if not present:
        return raw.with_columns(pl.lit(False).alias(NORMALISED))
    exprs = []
    for column in present:
        value = fold(pl.col(column)) if folded else pl.col(column)
        mapping = dict(aliases.get(column, {}))
        mapping = folded_aliases(mapping) if folded else mapping
        if mapping:
            value = value.replace(mapping)
        exprs.append(value.alias(column))
    changed = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{RAW_PREFIX}{c}")) for c in present])
    return (
        raw.with_columns(pl.col(c).alias(f"{RAW_PREFIX}{c}") for c in present)
        .with_columns(exprs)
        .with_columns(changed.alias(NORMALISED))
    )
