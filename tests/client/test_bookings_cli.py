"""`coatro bookings put|list|show` and `coatro report performance`: a booking file read and checked,
the summary table, then the commands against the local stack."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from coatro_cli.bookings import BookingFileError, read_booking, write_summary
from coatro_cli.cli import main
from shared.platform import clients
from tests.conftest import unique


def test_a_booking_file_needs_one_object_with_its_id(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('{"bookingId": "b-1", "campaignId": "c"}')
    assert read_booking(path) == ("b-1", {"bookingId": "b-1", "campaignId": "c"})
    for text, words in (("[]", "JSON object"), ("{}", "bookingId"), ("{", "not JSON")):
        path.write_text(text)
        with pytest.raises(BookingFileError, match=words):
            read_booking(path)


def test_the_summary_names_the_headline_figures():
    out = io.StringIO()
    write_summary(
        {"bookingId": "b", "campaignId": "c", "metric": "plays", "flight": {"start": "2026-01-01", "end": "2026-01-02", "timeZone": "UTC"},
         "contracted": 10, "delivered": 4, "pacing": 0.8, "projected": 8.0, "daily": [], "darkAfterHours": 4,
         "darkScreens": [{"screenId": "s-9", "lastPlayedAt": None, "darkHours": 9.0}], "outside": {}},
        out,
    )  # fmt: skip
    text = out.getvalue()
    assert (
        "pacing" in text and "0.8" in text and "s-9" in text and "dark screens (no play for 4 hours)" in text
    )


@pytest.fixture
def api(stack, tenant, tmp_path):
    return {
        "COATRO_URL": stack.gateway_url,
        "COATRO_API_KEY": tenant[1],
        "COATRO_CONFIG": str(tmp_path / "none.toml"),
    }


@pytest.fixture
def coatro_here(capsys, monkeypatch):
    """The command in this process: a subprocess per command costs a second or more."""

    def run(*args, env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        try:
            main.main([str(a) for a in args], prog_name="coatro")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return SimpleNamespace(code=code, stdout=out.out, stderr=out.err)

    return run


@pytest.mark.e2e
def test_put_list_show_and_the_performance_report_against_the_local_stack(coatro_here, api, tenant, tmp_path):
    coatro = coatro_here
    today = datetime.now(UTC).date()
    booking_id = unique("cli-b")
    booking = {
        "bookingId": booking_id, "campaignId": "cli-camp", "advertiser": "Acme",
        "flight": {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=8)).isoformat(), "timeZone": "UTC"},
        "targets": {"screenIds": ["cli-s1"]}, "goal": {"metric": "plays", "quantity": 100},
    }  # fmt: skip
    path = tmp_path / "booking.json"
    path.write_text(json.dumps({**booking, "goal": {"metric": "views", "quantity": 0}}))
    refused = coatro("bookings", "put", path, env=api)
    assert refused.code == 1 and "goal.metric" in refused.stderr and "goal.quantity" in refused.stderr
    path.write_text(json.dumps(booking))
    created = coatro("bookings", "put", path, env=api)
    assert created.code == 0, created.stderr
    assert json.loads(created.stdout)["version"] == 1 and "created" in created.stderr

    listed = coatro("bookings", "list", env=api)
    assert listed.code == 0 and booking_id in listed.stdout and "1 bookings" in listed.stderr
    shown = coatro("bookings", "show", booking_id, env=api)
    assert json.loads(shown.stdout)["campaignId"] == "cli-camp"

    start = datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC)
    rows = [
        {"tenantId": tenant[0], "eventId": f"cli-{i}", "screenId": "cli-s1", "campaignId": "cli-camp",
         "playedAt": (start + timedelta(hours=i)).isoformat(), "durationMs": 2000,
         "publish_time": datetime.now(UTC).isoformat(), "message_id": f"cli-{i}", "subscription_name": "test"}
        for i in range(5)
    ]  # fmt: skip
    assert clients.bigquery().insert_rows_json(clients.events_table(), rows) == []

    as_json = coatro("report", "performance", "--booking", booking_id, "--format", "json", env=api)
    assert as_json.code == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["delivered"], report["contracted"]) == (5, 100)
    out = tmp_path / "perf.csv"
    as_csv = coatro("report", "performance", "--booking", booking_id, "--format", "csv", "-o", out, env=api)
    assert as_csv.code == 0, as_csv.stderr
    summary = next(r for r in csv.DictReader(out.open()) if r["section"] == "summary")
    assert summary["delivered"] == "5"
    missing = coatro("report", "performance", "--booking", "nope", env=api)  # the table, by default
    assert missing.code == 1 and "404" in missing.stderr
