"""The performance report as CSV and as a printable HTML page (docs/bookings.md).

CSV: one table in long form, one row per figure group: `section` says what a row is (summary, daily,
market, venueType, screenId, creativeId, outside, darkScreen) and `key` which one. A cell that starts
with =, +, - or @ is prefixed with ' so a spreadsheet reads it as text (OWASP, "CSV Injection").

HTML: a standalone page with the summary, a chart of cumulative delivery against the plan drawn as
inline SVG here on the server, and the tables. No script at all, and every string that comes from the
tenant (ids, names, markets) is escaped (html.escape), so a booking cannot inject markup.
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

CSV_COLUMNS = (
    "bookingId",
    "section",
    "key",
    "plays",
    "qualifiedPlays",
    "impressions",
    "delivered",
    "cumulative",
    "planned",
    "contracted",
    "expected",
    "pacing",
    "projected",
    "lastPlayedAt",
)
# A text cell a spreadsheet would run as a formula gets a leading `'` (OWASP, "CSV Injection"): the
# one rule of every CSV the reports write (performance here, drops in shared/reports/kinds.py).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def spreadsheet_safe(cell: Any) -> Any:
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(spreadsheet_safe(value))


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    booking = report["bookingId"]
    rows: list[dict[str, Any]] = [
        {
            "bookingId": booking,
            "section": "summary",
            "key": report["metric"],
            **{k: report["totals"][k] for k in ("plays", "qualifiedPlays", "impressions")},
            "delivered": report["delivered"],
            "contracted": report["contracted"],
            "expected": report["expected"],
            "pacing": report["pacing"],
            "projected": report["projected"],
        }
    ]
    for day in report["daily"]:
        rows.append({"bookingId": booking, "section": "daily", "key": day["date"], **day})
    for section, items in report["breakdown"].items():
        for item in items:
            rows.append({"bookingId": booking, "section": section, "key": item[section], **item})
    for name in ("untargetedScreens", "outsideFlight"):
        rows.append({"bookingId": booking, "section": "outside", "key": name, **report["outside"][name]})
    for dark in report["darkScreens"]:
        rows.append({"bookingId": booking, "section": "darkScreen", "key": dark["screenId"], **dark})
    return rows


def to_csv(reports: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        for row in csv_rows(report):
            writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


# ---- HTML

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.bad { color: #b00; font-weight: bold; }
@media print { body { margin: 0.5cm; } section { page-break-inside: avoid; } }
"""
CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 240, 40


def _fmt(value: Any) -> str:
    if value is None:
        return "&#8212;"
    if isinstance(value, float):
        return escape(f"{value:,.3f}".rstrip("0").rstrip("."))
    if isinstance(value, int) and not isinstance(value, bool):
        return escape(f"{value:,}")
    return escape(str(value))


def chart(report: dict[str, Any]) -> str:
    """Cumulative delivered (solid) against the plan (dashed), one point per flight day, as SVG."""
    days = report["daily"]
    top = max([float(report["contracted"])] + [float(d["cumulative"]) for d in days] + [1.0])
    width, height = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN
    step = width / max(len(days), 1)

    def point(i: int, value: float) -> str:
        return f"{MARGIN + step * (i + 1):.1f},{MARGIN + height - height * value / top:.1f}"

    planned = " ".join(point(i, float(d["planned"])) for i, d in enumerate(days))
    base = f"{MARGIN:.1f},{MARGIN + height:.1f}"
    delivered = " ".join(
        point(i, float(d["cumulative"])) for i, d in enumerate(days) if d["date"] <= report["asOf"][:10]
    )
    labels = "".join(
        f'<text x="{MARGIN + step * (i + 1):.1f}" y="{CHART_HEIGHT - MARGIN + 14}" font-size="9" '
        f'text-anchor="middle">{escape(d["date"][5:])}</text>'
        for i, d in enumerate(days)
        if len(days) <= 31 or i % 7 == 0
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-label="Cumulative delivery against plan">'
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{width}" height="{height}" fill="none" stroke="#999"/>'
        f'<text x="{MARGIN}" y="{MARGIN - 8}" font-size="10">{_fmt(top)}</text>'
        f'<polyline points="{base} {planned}" fill="none" stroke="#888" stroke-dasharray="4 3"/>'
        f'<polyline points="{base} {delivered}" fill="none" stroke="#1565c0" stroke-width="2"/>'
        f"{labels}"
        f'<text x="{CHART_WIDTH - MARGIN}" y="{MARGIN - 8}" font-size="10" text-anchor="end">'
        "solid: delivered, dashed: plan</text></svg>"
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(report: dict[str, Any]) -> str:
    flight = report["flight"]
    pace = report["pacing"]
    summary = _table(
        ["", "value"],
        [
            ["Advertiser", report["advertiser"]],
            ["Campaign", report["campaignId"]],
            ["Creatives", ", ".join(report["creativeIds"] or []) or "all"],
            ["Flight", f"{flight['start']} to {flight['end']} ({flight['timeZone']})"],
            [f"Contracted ({report['metric']})", report["contracted"]],
            ["Delivered", report["delivered"]],
            ["% delivered", report["percentDelivered"]],
            ["Expected by now", report["expected"]],
            ["Pacing", pace],
            ["Projected at end of flight", report["projected"]],
            ["As of", report["asOf"]],
        ],
    )
    warn = (
        f'<p class="bad">Underdelivering: pacing {_fmt(pace)} is below {_fmt(report["underdeliveryThreshold"])}.</p>'
        if report["underdelivering"]
        else ""
    )
    daily = _table(
        ["date", "plays", "qualified plays", "impressions", "delivered", "cumulative", "planned"],
        [
            [
                d["date"],
                d["plays"],
                d["qualifiedPlays"],
                d["impressions"],
                d["delivered"],
                d["cumulative"],
                d["planned"],
            ]
            for d in report["daily"]
        ],
    )
    parts = []
    for key, items in report["breakdown"].items():
        parts.append(
            f"<h3>By {escape(key)}</h3>"
            + _table(
                [key, "plays", "qualified plays", "impressions", "delivered"],
                [[i[key], i["plays"], i["qualifiedPlays"], i["impressions"], i["delivered"]] for i in items],
            )
        )
    outside = _table(
        ["", "plays", "qualified plays", "impressions"],
        [
            [name, f["plays"], f["qualifiedPlays"], f["impressions"]]
            for name, f in (
                ("untargeted screens", report["outside"]["untargetedScreens"]),
                (
                    f"outside the flight (±{report['outside']['days']} days)",
                    report["outside"]["outsideFlight"],
                ),
            )
        ],
    )
    dark = _table(
        ["screen", "last play", "dark for (hours)"],
        [[d["screenId"], d["lastPlayedAt"], d["darkHours"]] for d in report["darkScreens"]],
    )
    return (
        f"<section><h1>Proof of performance: booking {escape(report['bookingId'])}</h1>{summary}{warn}"
        f"<h2>Delivery against plan</h2>{chart(report)}<h2>Daily</h2>{daily}"
        f"<h2>Breakdown</h2>{''.join(parts)}<h2>Delivery outside the booking (not counted)</h2>{outside}"
        f"<h2>Dark screens (no play for {report['darkAfterHours']} hours)</h2>{dark}</section>"
    )


def to_html(reports: list[dict[str, Any]]) -> str:
    sections = "".join(_section(r) for r in reports) or "<p>No bookings.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Coatro performance report</title><style>{_STYLE}</style></head>"
        f"<body>{sections}</body></html>"
    )
