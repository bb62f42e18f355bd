"""The performance report's CSV and HTML (shared/reports/rendering.py): a tenant's strings never become
formulas or markup, and the chart is SVG drawn on the server."""

from __future__ import annotations

import csv
import io

from shared.reports import rendering


def report(**changes) -> dict:
    figures = {"plays": 3, "qualifiedPlays": 2, "impressions": 1.5, "delivered": 2}
    base = {
        "bookingId": "<b>", "advertiser": "<script>alert(1)</script>", "campaignId": "=cmd|' /C calc'!A0",
        "creativeIds": None, "flight": {"start": "2026-01-01", "end": "2026-01-02", "timeZone": "UTC"},
        "metric": "qualifiedPlays", "contracted": 10, "delivered": 2, "percentDelivered": 20.0,
        "expected": 5.0, "pacing": 0.4, "projected": 4.0, "underdeliveryThreshold": 0.9,
        "underdelivering": True, "asOf": "2026-01-01T12:00:00.000Z", "totals": figures,
        "daily": [
            {"date": "2026-01-01", **figures, "cumulative": 2, "planned": 5.0},
            {"date": "2026-01-02", **figures, "delivered": 0, "cumulative": 2, "planned": 10.0},
        ],
        "breakdown": {"market": [{"market": "<i>x</i>", **figures}], "venueType": [], "screenId": [], "creativeId": []},
        "darkAfterHours": 4, "darkScreens": [{"screenId": "@s", "lastPlayedAt": None, "darkHours": 12.0}],
        "outside": {"days": 7, "untargetedScreens": figures, "outsideFlight": figures},
    }  # fmt: skip
    return {**base, **changes}


def test_csv_is_one_long_table_without_formulas():
    rows = list(csv.DictReader(io.StringIO(rendering.to_csv([report()]))))
    sections = [r["section"] for r in rows]
    assert sections == ["summary", "daily", "daily", "market", "outside", "outside", "darkScreen"]
    assert rows[0]["pacing"] == "0.4" and rows[0]["contracted"] == "10"
    assert rows[-1]["key"] == "'@s"  # a cell starting with @ is text


def test_html_escapes_every_tenant_string_and_has_no_script():
    page = rendering.to_html([report()])
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<i>x</i>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page
    assert "<b>" not in page and "<svg" in page and "polyline" in page
    assert "Underdelivering" in page
