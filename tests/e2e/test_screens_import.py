"""`POST /coatro/v1/pop/screens/import` through the local gateway (and, for bodies larger than the local
gateway takes, the `screens` function in-process): CSV and NDJSON, per-row errors that never block
the other rows, re-imports, and the limits."""

from __future__ import annotations

import json
import time

import pytest
import requests

from shared.screens import importing
from shared.storage import firestore
from tests.conftest import unique
from tests.integration.conftest import _client

IMPORT = "/coatro/v1/pop/screens/import"
SCREENS = "/coatro/v1/pop/screens"
CSV = {"Content-Type": "text/csv"}
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def post(stack, tenant):
    def send(body: str | bytes, headers: dict[str, str], timeout: float = 300) -> requests.Response:
        return requests.post(
            stack.gateway_url + IMPORT,
            data=body.encode() if isinstance(body, str) else body,
            headers={**headers, "X-API-Key": tenant[1]},
            timeout=timeout,
        )

    return send


def versions(stack, tenant, screen_id: str) -> list[dict]:
    answer = requests.get(
        f"{stack.gateway_url}{SCREENS}/{screen_id}/history", headers={"X-API-Key": tenant[1]}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["versions"]


def test_csv_rows_are_created_then_unchanged_then_replaced(stack, tenant, post):
    schedule = json.dumps([[1.5] * 24 for _ in range(7)])
    csv_text = (
        "screenId,name,timeZone,venueType,location.lat,location.lon,country,market,screens,"
        "audience.impressionSchedule,audience.allowLarge,qualification.minDurationMs\n"
        f'a-1,Lobby,Europe/London,10101,51.5,-0.12,GB,London,2,"{schedule.replace(chr(34), chr(34) * 2)}",false,5000\n'
        "a-2,,America/New_York,,,,US,NYC,,,,\n"
    )
    first = post(csv_text, CSV)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "rows": 2,
        "created": 2,
        "replaced": 0,
        "unchanged": 0,
        "failed": 0,
        "errors": [],
        "errorsTruncated": False,
    }
    shown = requests.get(
        f"{stack.gateway_url}{SCREENS}/a-1", headers={"X-API-Key": tenant[1]}, timeout=30
    ).json()
    assert shown["location"] == {"lat": 51.5, "lon": -0.12} and shown["screens"] == 2
    assert shown["audience"]["impressionSchedule"][6][23] == 1.5
    assert shown["qualification"] == {"minDurationMs": 5000, "minShareOfPlanned": None}

    again = post(csv_text, CSV).json()
    assert (again["created"], again["replaced"], again["unchanged"]) == (0, 0, 2)

    changed = post(csv_text.replace("US,NYC", "US,Brooklyn"), CSV).json()
    assert (changed["created"], changed["replaced"], changed["unchanged"]) == (0, 1, 1)
    assert [(v["version"], v["market"]) for v in versions(stack, tenant, "a-2")] == [
        (1, "NYC"),
        (2, "Brooklyn"),
    ]


def test_bad_csv_rows_are_named_by_their_line_and_never_block_the_others(post):
    csv_text = (
        "screenId,timeZone,venueType,location.lat,audience.allowLarge\n"
        "ok-1,Europe/Paris,,,\n"
        "bad-zone,Mars/Olympus,,,\n"
        "bad-int,Europe/Paris,twelve,,\n"
        "\n"
        'ok-2,"Europe/\nParis",,,\n'  # a quoted cell over two lines: the row is the line it starts on
        "ok-3,Europe/Paris,,,\n"
        "ok-1,Europe/Paris,,,\n"
        "short,Europe/Paris\n"
        "bad-bool,Europe/Paris,,,yes\n"
    )
    answer = post(csv_text, CSV).json()
    assert (answer["rows"], answer["created"], answer["failed"]) == (8, 2, 6)
    by_row = {(e["row"], e["screenId"], e["field"]) for e in answer["errors"]}
    assert by_row == {
        (3, "bad-zone", "timeZone"),
        (4, "bad-int", "venueType"),
        (6, "ok-2", "timeZone"),  # "Europe/\nParis" is no zone
        (9, "ok-1", "screenId"),
        (10, "short", None),
        (11, "bad-bool", "audience.allowLarge"),
    }
    repeated = next(e for e in answer["errors"] if e["row"] == 9)
    assert "first on row 2" in repeated["message"]


def test_an_unknown_or_missing_column_is_a_400_naming_it(post):
    answer = post("screenId,timeZone,colour\nx,UTC,red\n", CSV)
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["colour"]
    assert "colour" in answer.json()["detail"]
    missing = post("screenId,name\nx,y\n", CSV)
    assert missing.status_code == 400 and [e["field"] for e in missing.json()["errors"]] == ["timeZone"]


def test_ndjson_rows_and_their_errors(stack, tenant, post):
    lines = [
        json.dumps({"screenId": "n-1", "timeZone": "Asia/Tokyo", "country": "JP"}),
        "",
        json.dumps({"screenId": "n-2", "timeZone": "Asia/Tokyo", "screens": "3"}),
        "{not json",
        json.dumps({"timeZone": "Asia/Tokyo"}),
        json.dumps({"screenId": "n-1", "timeZone": "Asia/Tokyo"}),
        json.dumps({"screenId": "n-3", "timeZone": "UTC", "version": 4}),
    ]
    answer = post("\n".join(lines) + "\n", NDJSON).json()
    assert (answer["rows"], answer["created"], answer["failed"]) == (6, 1, 5)
    assert [(e["row"], e["screenId"], e["field"]) for e in answer["errors"]] == [
        (3, "n-2", "screens"),
        (4, None, None),
        (5, None, "screenId"),
        (6, "n-1", "screenId"),
        (7, "n-3", "version"),
    ]
    assert versions(stack, tenant, "n-1")[0]["country"] == "JP"


def test_a_wrong_content_type_is_a_415(post):
    answer = post('{"screenId": "x"}', {"Content-Type": "application/json"})
    assert answer.status_code == 415


def test_too_many_rows_or_bytes_are_refused_and_nothing_is_written(stack, tenant):
    client = _client("screens")
    headers = {"X-API-Key": tenant[1], **CSV}
    rows = "".join(f"r-{i},UTC\n" for i in range(importing.MAX_ROWS + 1))
    answer = client.post(IMPORT, data="screenId,timeZone\n" + rows, headers=headers)
    assert answer.status_code == 413 and "100,000 rows" in answer.get_json()["detail"]
    assert firestore.count_screens(tenant[0]) == 0
    big = "screenId,timeZone,address\n" + "r,UTC," + "x" * importing.MAX_BYTES + "\n"
    answer = client.post(IMPORT, data=big, headers=headers)
    assert answer.status_code == 413 and "bytes" in answer.get_json()["detail"]


def test_importing_100000_screens_with_3_bad_rows(stack, tenant, post):
    prefix = unique("s")
    lines = ["screenId,name,timeZone,venueType,country,market,location.lat,location.lon"]
    bad = {1_000: ("timeZone", "Nowhere/Town"), 50_000: ("country", "XX"), 99_999: ("venueType", "999")}
    for i in range(100_000):
        zone, country, venue = "Europe/London", "GB", "10101"
        if i in bad:
            name, value = bad[i]
            zone = value if name == "timeZone" else zone
            country = value if name == "country" else country
            venue = value if name == "venueType" else venue
        lines.append(f"{prefix}-{i:06d},Screen {i},{zone},{venue},{country},London,51.5,-0.1")
    body = "\n".join(lines) + "\n"
    started = time.monotonic()
    # Through the gateway in parts, as the CLI sends it (the local gateway takes 10 MiB a request).
    answers = [
        post("\n".join([lines[0], *lines[1 + start : 1 + start + 25_000]]) + "\n", CSV).json()
        for start in range(0, 100_000, 25_000)
    ]
    took = time.monotonic() - started
    print(f"imported 100,000 screens in {took:.1f} s ({len(body) / 1e6:.1f} MB)")
    assert sum(a["created"] for a in answers) == 99_997
    assert sum(a["failed"] for a in answers) == 3
    fields = sorted(e["field"] for a in answers for e in a["errors"])
    assert fields == ["country", "timeZone", "venueType"]
    assert firestore.count_screens(tenant[0]) == 99_997
