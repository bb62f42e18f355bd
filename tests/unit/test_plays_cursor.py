"""The plays cursor on its own: it round-trips, and any change to it, another tenant, other filters or
no server secret is refused with the parameter named."""

from __future__ import annotations

import os
from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from shared.platform import clients
from shared.platform.problems import Problem
from shared.reports import exports, plays

QUERY = plays.PlaysQuery(date(2025, 1, 1), date(2025, 1, 31), "UTC", {"campaignId": "c1"})
AT = plays.Position(playedAt=1_735_700_000_123_456, eventId="e-1")


@pytest.fixture(autouse=True)
def secret():
    os.environ["COATRO_CURSOR_SECRET"] = "test-secret-" + "0" * 20
    clients.reset()


def refused(tenant: str, query: plays.PlaysQuery, cursor: str) -> str:
    with pytest.raises(Problem) as caught:
        plays.decode_cursor(tenant, query, cursor)
    assert caught.value.status == 400 and [e["field"] for e in caught.value.errors] == ["cursor"]
    return caught.value.errors[0]["message"]


def test_a_cursor_round_trips_and_binds_tenant_and_filters():
    cursor = plays.encode_cursor("t1", QUERY, AT)
    assert plays.decode_cursor("t1", QUERY, cursor) == AT
    assert "another caller" in refused("t2", QUERY, cursor)
    other = plays.PlaysQuery(date(2025, 1, 1), date(2025, 1, 31), "UTC", {"campaignId": "c2"})
    assert "other filters" in refused("t1", other, cursor)
    for i in range(len(cursor)):  # every single-character change
        changed = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1 :]
        refused("t1", QUERY, changed)
    refused("t1", QUERY, "")
    refused("t1", QUERY, "é.é")


def test_another_servers_cursor_is_refused_and_no_secret_is_a_503():
    cursor = plays.encode_cursor("t1", QUERY, AT)
    os.environ["COATRO_CURSOR_SECRET"] = "another-secret-" + "1" * 20
    clients.reset()
    refused("t1", QUERY, cursor)
    del os.environ["COATRO_CURSOR_SECRET"]
    clients.reset()
    with pytest.raises(Problem) as caught:
        plays.encode_cursor("t1", QUERY, AT)
    assert caught.value.status == 503


def test_parameters_and_export_bodies_name_every_bad_field():
    with pytest.raises(Problem) as caught:
        plays.parse(
            MultiDict({"filter[from]": "2025-01-01", "limit": "10001", "timezone": "screen", "x": "1"})
        )
    assert [e["field"] for e in caught.value.errors] == ["x", "filter[to]", "timezone", "limit"]
    with pytest.raises(Problem) as caught:
        exports.parse_request({"filter[date]": 20250101, "format": {}, "gzip": "yes", "limit": 5}, "bad key")
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"format", "gzip", "Idempotency-Key", "limit", "filter[date]"}
    query, fmt, zipped = exports.parse_request({"filter[date]": "2025-01-02", "format": "csv"}, None)
    assert (query.first_day, query.last_day, fmt, zipped) == (date(2025, 1, 2), date(2025, 1, 2), "csv", True)


def test_the_same_idempotency_key_names_the_same_export_per_tenant():
    assert exports.export_id_for("t1", "k") == exports.export_id_for("t1", "k")
    assert exports.export_id_for("t1", "k") != exports.export_id_for("t2", "k")
    assert exports.export_id_for("t1", None) != exports.export_id_for("t1", None)


def test_a_csv_record_reads_back_as_the_play():
    import csv
    import io

    play = {"eventId": 'e,"1"', "playedAt": "2025-01-01T00:00:00.000000Z", "campaignId": "=cmd", "creativeId": None,
            "screenId": "s", "siteId": None, "durationMs": 1500, "plannedDurationMs": None, "playCount": 2,
            "impressions": {"ageBuckets": {"total": 1.5, "male": None, "female": None}}, "source": "api", "jobId": None}  # fmt: skip
    text = plays.csv_header() + plays.csv_line(play)
    [record] = list(csv.DictReader(io.StringIO(text)))
    assert plays.read_csv_play(record) == play
