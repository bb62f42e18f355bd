"""Raw plays: the cursor API and the export job, through the reports and exporter functions (test
clients) against the emulators. Rows are written as the BigQuery subscription writes them, with
duplicates: the same eventId delivered again later (another durationMs, another playedAt), and ties
on playedAt, so pages must break them by eventId."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import os
import random
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.auth import api_keys
from shared.platform import clients
from shared.reports import exports
from tests.conftest import unique
from tests.integration.conftest import _client

PLAYS = "/coatro/v1/pop/reports/plays"
EXPORTS = "/coatro/v1/pop/exports"
START = datetime(2025, 2, 1, tzinfo=UTC)


def make_rows(tenant_id: str, count: int, seed: int) -> tuple[list[dict], dict[str, dict]]:
    """(rows as the subscription writes them, the play each eventId counts as: its first delivery)."""
    rng = random.Random(seed)
    rows, first = [], {}
    for i in range(count):
        # Whole minutes over 3 days: many plays share a playedAt.
        played = START + timedelta(minutes=rng.randrange(3 * 24 * 60))
        if i % 7 == 0:  # a cluster at one instant, wider than a page: only eventId orders it
            played = START + timedelta(hours=12)
        row = {
            "tenantId": tenant_id,
            "eventId": f"e-{i:04d}",
            "source": "api",
            "screenId": f"screen-{rng.randrange(3)}",
            "campaignId": rng.choice(["c1", "c2", None]),
            "playedAt": played.isoformat(),
            "durationMs": rng.randrange(500, 30000),
            "publish_time": (START + timedelta(days=5, seconds=i)).isoformat(),
            "message_id": f"m-{i}",
            "subscription_name": "test",
        }
        if i % 3 == 0:
            row["impressions"] = {"ageBuckets": {"total": rng.randrange(100) / 4, "male": 1.5}}
        if i % 4 == 0:
            row["plannedDurationMs"] = 15000
        rows.append(row)
        first[row["eventId"]] = row
        if i % 5 == 0:  # delivered again, later, changed: never counted
            again = dict(row, durationMs=1, message_id=f"m-{i}-again",
                         publish_time=(START + timedelta(days=9, seconds=i)).isoformat())  # fmt: skip
            if i % 10 == 0:
                again["playedAt"] = (played + timedelta(hours=1)).isoformat()
            rows.append(again)
    rng.shuffle(rows)
    return rows, first


def expected(first: dict[str, dict], campaign: str | None = None) -> list[tuple[str, str, int]]:
    plays = [r for r in first.values() if campaign is None or r["campaignId"] == campaign]
    return sorted((r["playedAt"], r["eventId"], r["durationMs"]) for r in plays)


@pytest.fixture(scope="module")
def loaded(stack):
    tenant_id = unique("plays")
    rows, first = make_rows(tenant_id, 240, seed=21)
    assert clients.bigquery().insert_rows_json(clients.events_table(), rows) == []
    return tenant_id, api_keys.create_key(tenant_id, label="test"), first


@pytest.fixture
def reports_fn(stack):
    return _client("reports")


def get_all(fn, key: str, params: dict, limit: int) -> list[dict]:
    plays, cursor, pages = [], None, 0
    while True:
        response = fn.get(PLAYS, query_string={**params, "limit": limit, **({"cursor": cursor} if cursor else {})},
                          headers={"X-API-Key": key})  # fmt: skip
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["plays"]) <= limit
        plays += body["plays"]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            return plays
        assert pages < 1000


def as_tuples(plays: list[dict]) -> list[tuple[str, str, int]]:
    return [(datetime.fromisoformat(p["playedAt"]).isoformat(), p["eventId"], p["durationMs"]) for p in plays]


WINDOW = {"filter[from]": "2025-02-01", "filter[to]": "2025-02-03"}


def test_pages_cover_every_play_once_in_order_with_duplicates_in_the_data(reports_fn, loaded):
    tenant_id, key, first = loaded
    plays = get_all(reports_fn, key, WINDOW, limit=50)
    assert as_tuples(plays) == expected(first)  # each eventId once, its first delivery, in order
    assert len({p["eventId"] for p in plays}) == len(first)
    one = next(p for p in plays if p["eventId"] == "e-0000")
    assert one["source"] == "api" and one["impressions"]["ageBuckets"]["male"] == 1.5
    filtered = get_all(reports_fn, key, {**WINDOW, "filter[campaignId]": "c1"}, limit=30)
    assert as_tuples(filtered) == expected(first, "c1")
    # NDJSON and CSV pages serve the same plays, the cursor in a header.
    response = reports_fn.get(
        PLAYS,
        query_string={**WINDOW, "limit": 5},
        headers={"X-API-Key": key, "Accept": "application/x-ndjson"},
    )
    assert [json.loads(line) for line in response.data.decode().splitlines()] == plays[:5]
    assert response.headers["Coatro-Next-Cursor"]
    response = reports_fn.get(
        PLAYS, query_string={**WINDOW, "limit": 5}, headers={"X-API-Key": key, "Accept": "text/csv"}
    )
    records = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [r["eventId"] for r in records] == [p["eventId"] for p in plays[:5]]


def test_a_tampered_foreign_or_misused_cursor_is_refused(reports_fn, loaded):
    tenant_id, key, _ = loaded
    response = reports_fn.get(PLAYS, query_string={**WINDOW, "limit": 3}, headers={"X-API-Key": key})
    cursor = response.get_json()["nextCursor"]
    head, mac = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload["p"][1] = "e-9999"  # skip ahead, keeping the signature
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=") + "." + mac
    other_key = api_keys.create_key(unique("other"), label="test")
    cases = [
        (key, WINDOW, forged),
        (key, WINDOW, cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")),
        (key, WINDOW, "not a cursor"),
        (other_key, WINDOW, cursor),  # another tenant's
        (key, {**WINDOW, "filter[campaignId]": "c2"}, cursor),  # other filters
    ]
    for caller, params, bad in cases:
        response = reports_fn.get(
            PLAYS, query_string={**params, "cursor": bad}, headers={"X-API-Key": caller}
        )
        assert response.status_code == 400, (bad, response.get_json())
        assert [e["field"] for e in response.get_json()["errors"]] == ["cursor"]
    response = reports_fn.get(
        PLAYS, query_string={"filter[from]": "2025-02-01", "limit": 0, "nope": 1}, headers={"X-API-Key": key}
    )
    assert {e["field"] for e in response.get_json()["errors"]} == {"filter[to]", "limit", "nope"}


def deliver(export_id: str, times: int = 1) -> None:
    for _ in range(times):
        exports.run_export(exports.ExportMessage(exportId=export_id))


def downloaded(view: dict) -> list[dict]:
    plays = []
    for f in view["files"]:
        response = requests.get(f["url"], timeout=60)
        assert response.status_code == 200
        data = gzip.decompress(response.content) if view["gzip"] else response.content
        assert len(response.content) == f["bytes"]
        if view["format"] == "csv":
            records = list(csv.DictReader(io.StringIO(data.decode())))
            plays += [exports.plays.read_csv_play(r) for r in records]
        else:
            plays += [json.loads(line) for line in data.decode().splitlines()]
        assert len(plays) == sum(g["rows"] for g in view["files"][: view["files"].index(f) + 1])
    return plays


def test_an_export_writes_the_cursor_apis_rows_in_parts_once_under_redelivery(reports_fn, loaded):
    # CSV without gzip here; NDJSON with gzip in the next test and in tests/e2e/test_plays_export.py.
    tenant_id, key, _ = loaded
    fmt, zipped = "csv", False
    os.environ["COATRO_EXPORT_PART_ROWS"] = "70"
    os.environ["COATRO_EXPORTS_TOPIC"] = unique(
        "exports"
    )  # this test plays Pub/Sub: no exporter of the stack's
    clients.reset()
    clients.publisher().create_topic(name=clients.topic_path(os.environ["COATRO_EXPORTS_TOPIC"]))
    body = {**WINDOW, "format": fmt, "gzip": zipped}
    response = reports_fn.post(
        f"{EXPORTS}/plays", json=body, headers={"X-API-Key": key, "Idempotency-Key": f"k-{fmt}"}
    )
    assert response.status_code == 202, response.get_json()
    view = response.get_json()
    assert view["state"] == "queued" and response.headers["Location"] == f"{EXPORTS}/{view['exportId']}"
    again = reports_fn.post(
        f"{EXPORTS}/plays", json=body, headers={"X-API-Key": key, "Idempotency-Key": f"k-{fmt}"}
    )
    assert again.status_code == 200 and again.get_json()["exportId"] == view["exportId"]
    deliver(view["exportId"], times=2)  # a redelivered message changes nothing
    status = reports_fn.get(f"{EXPORTS}/{view['exportId']}", headers={"X-API-Key": key}).get_json()
    assert status["state"] == "succeeded" and status["progress"] == 1.0
    assert [f["rows"] for f in status["files"]] == [70, 70, 70, 30]
    assert status["files"][0]["name"] == "plays-00000." + ("ndjson.gz" if zipped else "csv")
    assert downloaded(status) == get_all(reports_fn, key, WINDOW, limit=10_000)
    # Another tenant cannot see it.
    other_key = api_keys.create_key(unique("other"), label="test")
    assert (
        reports_fn.get(f"{EXPORTS}/{view['exportId']}", headers={"X-API-Key": other_key}).status_code == 404
    )


def test_an_export_resumes_at_its_recorded_part_and_fails_at_its_deadline(reports_fn, loaded):
    tenant_id, key, _ = loaded
    os.environ["COATRO_EXPORT_PART_ROWS"] = "100"
    os.environ["COATRO_EXPORT_TIME_BUDGET_SECONDS"] = "0.001"  # one part per call
    os.environ["COATRO_EXPORTS_TOPIC"] = unique("exports")
    clients.reset()
    clients.publisher().create_topic(name=clients.topic_path(os.environ["COATRO_EXPORTS_TOPIC"]))
    view = reports_fn.post(f"{EXPORTS}/plays", json=WINDOW, headers={"X-API-Key": key}).get_json()
    deliver(view["exportId"])
    status = reports_fn.get(f"{EXPORTS}/{view['exportId']}", headers={"X-API-Key": key}).get_json()
    assert status["state"] == "running" and status["rows"] == 100 and 0 < status["progress"] < 1
    assert status["files"][0]["url"] is None
    deliver(view["exportId"], times=3)
    status = reports_fn.get(f"{EXPORTS}/{view['exportId']}", headers={"X-API-Key": key}).get_json()
    assert status["state"] == "succeeded" and [f["rows"] for f in status["files"]] == [100, 100, 40]
    assert downloaded(status) == get_all(reports_fn, key, WINDOW, limit=10_000)
    # Past its deadline an unfinished export is failed, whoever looks first.
    os.environ["COATRO_EXPORT_DEADLINE_SECONDS"] = "0.001"
    clients.reset()
    late = reports_fn.post(f"{EXPORTS}/plays", json=WINDOW, headers={"X-API-Key": key}).get_json()
    status = reports_fn.get(f"{EXPORTS}/{late['exportId']}", headers={"X-API-Key": key}).get_json()
    assert status["state"] == "failed" and "deadline" in status["error"]
    deliver(late["exportId"])
    assert (
        reports_fn.get(f"{EXPORTS}/{late['exportId']}", headers={"X-API-Key": key}).get_json()["state"]
        == "failed"
    )
