"""Building blocks of the run report: escaping (HTML and Markdown), number formatting,
HTML tables, badges, cards, sections, inlined images and the stylesheet.

Shared by :mod:`tasks.report.render` and :mod:`tasks.report.monitoring_sections`; all pure.
Every text that reaches the page goes through :func:`esc` unless it is already :class:`Safe` HTML.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence

from tasks.report.image import Image

# Badge colour per level word (``pass`` green, ``warn`` amber, ``fail`` red, ``muted`` grey).
LEVEL_CLASSES = {
    "ok": "pass",
    "passed": "pass",
    "warn": "warn",
    "breach": "fail",
    "alert": "fail",
    "degraded": "fail",
    "failed": "fail",
}


class Safe(str):
    """Text that is already HTML: table cells of this type are not escaped again."""

    __slots__ = ()


def esc(value: object) -> str:
    """HTML-escape any value's text (quotes included)."""
    return html.escape(str(value), quote=True)


def md(text: object) -> str:
    """Escape Markdown's special characters in a text value."""
    out = str(text)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


# ---------------------------------------------------------------- numbers and dates


def stamp(generated_at: dt.datetime) -> tuple[str, str]:
    """``(YYYY-MM-DD, YYYY-MM-DD HH:MM UTC)`` for the title and header."""
    when = generated_at.astimezone(dt.UTC) if generated_at.tzinfo else generated_at
    suffix = " UTC" if generated_at.tzinfo else ""
    return when.date().isoformat(), when.strftime("%Y-%m-%d %H:%M") + suffix


def pct(value: object, signed: bool = False, decimals: int = 1) -> str:
    """A fraction as a percentage (one decimal by default); ``—`` when undefined."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:+.{decimals}%}" if signed else f"{value:.{decimals}%}"


def num(value: object, decimals: int = 1) -> str:
    """A number with thousands separators; ``—`` when undefined."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{decimals}f}"


# ---------------------------------------------------------------- HTML pieces


def table(
    headers: Sequence[str] | None,
    rows: Iterable[Sequence[object]],
    numeric_from: int = 1,
    row_class: Sequence[str] | None = None,
    numeric_to: int | None = None,
) -> str:
    """An HTML table; every cell is escaped unless it is ``Safe``.

    Columns from ``numeric_from`` on (up to, not including, ``numeric_to``) are
    right-aligned; ``row_class`` gives each body row a CSS class (empty for none).
    """

    def cell(tag: str, i: int, value: object) -> str:
        numeric = i >= numeric_from and (numeric_to is None or i < numeric_to)
        cls = ' class="num"' if numeric else ""
        text = value if isinstance(value, Safe) else esc(value)
        return f"<{tag}{cls}>{text}</{tag}>"

    head = (
        "<thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(headers)) + "</tr></thead>"
        if headers
        else ""
    )
    body = []
    for n, row in enumerate(rows):
        cls = row_class[n] if row_class and n < len(row_class) else ""
        attr = f' class="{esc(cls)}"' if cls else ""
        body.append(f"<tr{attr}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def badge(passed: bool) -> Safe:
    """``passed`` (green) or ``failed`` (red)."""
    return level_badge("passed" if passed else "failed")


def level_badge(level: object, text: object = None) -> Safe:
    """A badge coloured by a level word (``ok``, ``warn``, ``breach``, ``alert``...)."""
    cls = LEVEL_CLASSES.get(str(level), "muted")
    return Safe(f'<span class="badge {cls}">{esc(level if text is None else text)}</span>')


def level_row(level: object) -> str:
    """The row class that highlights a warning or worse (empty for ``ok`` and the rest)."""
    return {"warn": "lv-warn", "breach": "lv-bad", "alert": "lv-bad", "degraded": "lv-bad"}.get(
        str(level), ""
    )


def section(key: str, title: str, body: str, intro: str = "") -> str:
    """A ``<section id=key>`` with its heading; ``intro`` and ``body`` are HTML."""
    lead = f'<p class="lead">{intro}</p>' if intro else ""
    return f'<section id="{esc(key)}"><h2>{esc(title)}</h2>{lead}{body}</section>'


def card(label: str, value: str, detail: str = "") -> str:
    """A summary tile; ``value`` and ``detail`` are HTML."""
    sub = f'<div class="detail">{detail}</div>' if detail else ""
    head = f'<div class="label">{esc(label)}</div><div class="value">{value}</div>'
    return f'<div class="card">{head}{sub}</div>'


def note(text: object) -> str:
    """A grey paragraph of (escaped) text."""
    return f'<p class="note">{esc(text)}</p>'


def img(image: Image, alt: str) -> str:
    """An inlined PNG (``data:`` URI) with its display size."""
    return (
        f'<img src="{image.data_uri}" width="{image.width}" height="{image.height}" '
        f'alt="{esc(alt)}">'
    )


def figure(image: Image, caption: str) -> str:
    """An image with its caption."""
    return f"<figure>{img(image, caption)}<figcaption>{esc(caption)}</figcaption></figure>"


STYLE = """
*{box-sizing:border-box}
tr.total td{font-weight:600;border-top:2px solid #1f2933}
body{
  margin:0;background:#f4f5f7;color:#1f2933;
  font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{background:#1f2933;color:#f9fafb;padding:20px 32px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header .meta{color:#cbd2d9;font-size:13px}
header .meta span{margin-right:18px}
nav{
  background:#fff;border-bottom:1px solid #e4e7eb;padding:8px 32px;position:sticky;top:0;
  z-index:1}
nav a{color:#2563eb;text-decoration:none;margin-right:16px;font-size:13px}
main{max-width:1160px;margin:0 auto;padding:8px 24px 40px}
section{
  background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:17px;margin:0 0 8px}
h3{font-size:14px;margin:16px 0 6px}
.lead{color:#52606d;margin:0 0 12px;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
.card{border:1px solid #e4e7eb;border-radius:6px;padding:10px 14px}
.card .label{color:#52606d;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:24px;font-weight:600;margin:2px 0}
.card .detail{color:#52606d;font-size:12px}
.badge{
  display:inline-block;padding:1px 10px;border-radius:999px;font-size:13px;font-weight:600;
  text-transform:uppercase;letter-spacing:.03em}
.card .badge{font-size:18px}
td .badge{font-size:11px;padding:0 8px}
.pass{background:#d1fae5;color:#065f46}.fail{background:#fee2e2;color:#991b1b}
.badge.warn{background:#fef3c7;color:#92400e}.badge.muted{background:#eef2f7;color:#52606d}
table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}
th,td{padding:4px 12px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top}
th{color:#52606d;font-weight:600;background:#f9fafb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.strong td{font-weight:600}
tr.reason td:first-child{padding-left:28px;color:#52606d}
tr.zero td{color:#9aa5b1}
tr.lv-warn td{background:#fffbeb}
tr.lv-bad td{background:#fef2f2}
tr.lv-bad td:first-child{font-weight:600}
h3 .tag{
  font-size:11px;font-weight:600;color:#52606d;background:#eef2f7;border-radius:4px;
  padding:1px 6px;margin-left:6px;vertical-align:middle}
.pair{
  display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:0 16px;
  align-items:start}
.pair section{margin:16px 0}
.pair table{width:100%}
figure{margin:8px 0 16px}
figcaption{color:#52606d;font-size:12px;margin-top:2px}
img{max-width:100%;height:auto;display:block}
.grid{
  display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px;
  align-items:start}
.grid > div{min-width:0;overflow-x:auto}
.note{color:#52606d;font-size:13px;margin:4px 0}
.verdict{margin:4px 0 8px}
ul.reasons{margin:8px 0;padding-left:20px}
footer{color:#7b8794;font-size:12px;text-align:center;padding:0 0 24px}
@media print{nav{display:none}section{break-inside:avoid}}
"""
