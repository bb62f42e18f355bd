"""The events function through functions-framework's test client, against the emulators."""

from __future__ import annotations

import copy
import gzip
import json
import os

import functions_framework
import pytest

from shared.platform import clients
from tests.conftest import ROOT, unique

CONTRACT = json.loads((ROOT / "tests/data/contract_event.json").read_text())
PATH = "/coatro/v1/pop/events"


@pytest.fixture
def client(stack):
    app = functions_framework.create_app(target="events", source=str(ROOT / "functions/events/main.py"))
    return app.test_client()


def post(client, key, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": key, **headers}
    return client.post(PATH, data=data, headers=headers)


def event(**fields):
    base = copy.deepcopy(CONTRACT["events"][0])
    base.update(fields)
    return base


def assert_nothing_published(client, key, tenant_id, sink):
    """Send a marker event; when it arrives, everything published before it for this tenant is visible."""
    marker = unique("marker")
    assert post(client, key, {"events": [event(eventId=marker)]}).status_code == 202
    got = sink.pull(tenant_id, until=lambda ms: any(m["attributes"]["eventId"] == marker for m in ms))
    assert [m["attributes"]["eventId"] for m in got] == [marker]


def test_contract_example_is_published_with_tenant_and_ids(client, tenant, events_sink):
    tenant_id, key = tenant
    response = post(client, key, CONTRACT)
    assert response.status_code == 202
    body = response.get_json()
    assert body["message"] == "Events accepted" and body["eventCount"] == 1
    assert body["acceptedAt"].endswith("Z")
    [msg] = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 1)
    assert msg["attributes"] == {"tenantId": tenant_id, "eventId": "evt-12345", "source": "api"}
    data = msg["data"]
    assert data["tenantId"] == tenant_id and data["source"] == "api" and data["eventId"] == "evt-12345"
    assert data["impressions"] == {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}}
    assert data["playedAt"] == "2025-01-27T10:00:00.000Z" and data["durationMs"] == 30000


def test_planned_duration_is_published_and_a_bad_one_is_a_400_naming_it(client, tenant, events_sink):
    tenant_id, key = tenant
    response = post(client, key, {"events": [event(plannedDurationMs=30500)]})
    assert response.status_code == 202
    [msg] = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 1)
    assert msg["data"]["plannedDurationMs"] == 30500 and msg["data"]["durationMs"] == 30000
    bad = [event(plannedDurationMs=-1), event(plannedDurationMs=86_400_001), event(plannedDurationMs=1.5)]
    response = post(client, key, {"events": [event(), *bad]})
    assert response.status_code == 400
    problem = response.get_json()
    assert [(e["index"], e["field"]) for e in problem["errors"]] == [
        (1, "plannedDurationMs"),
        (2, "plannedDurationMs"),
        (3, "plannedDurationMs"),
    ]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_one_message_per_event_and_deterministic_ids(client, tenant, events_sink):
    tenant_id, key = tenant
    batch = {"events": [{"screenId": f"s-{i}", "playedAt": "2025-01-27T10:00:00+01:00"} for i in range(50)]}
    assert post(client, key, batch).status_code == 202
    assert post(client, key, batch).status_code == 202  # a retried request
    got = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 100)
    assert len(got) == 100
    ids = [m["attributes"]["eventId"] for m in got]
    assert len(set(ids)) == 50, "a retried request must produce the same eventIds"
    assert all(m["data"]["playedAt"] == "2025-01-27T09:00:00.000Z" for m in got)


def test_gzip_body_is_accepted(client, tenant, events_sink):
    tenant_id, key = tenant
    response = post(client, key, gzip.compress(json.dumps(CONTRACT).encode()), **{"Content-Encoding": "gzip"})
    assert response.status_code == 202, response.get_json()
    assert len(events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 1)) == 1


def test_every_invalid_event_is_listed_and_nothing_is_published(client, tenant, events_sink):
    tenant_id, key = tenant
    events = [
        event(),  # valid
        event(playedAt="2025-01-27T10:00:00"),  # no timezone
        event(durationMs=1.5),
        event(durationMs=-1),
        event(durationMs="30000"),
        event(impressions={"ageBuckets": {"total": -3, "male": True}}),
        event(context=[1], device="phone"),
        event(screenId="x" * 129),
        event(playedAtt="typo"),
        "not an object",
    ]
    response = post(client, key, {"events": events})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 400 and problem["type"].endswith("/validation-failed")
    found = {(e["index"], e["field"]) for e in problem["errors"]}
    assert found == {
        (1, "playedAt"),
        (2, "durationMs"),
        (3, "durationMs"),
        (4, "durationMs"),
        (5, "impressions.ageBuckets.total"),
        (5, "impressions.ageBuckets.male"),
        (6, "context"),
        (6, "device"),
        (7, "screenId"),
        (8, "playedAtt"),
        (9, None),
    }
    assert "9 of 10 events are invalid" in problem["detail"]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_nan_and_infinity_are_rejected(client, tenant, events_sink):
    tenant_id, key = tenant
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = json.dumps(CONTRACT).replace("150.0", literal).encode()
        response = post(client, key, raw)
        assert response.status_code == 400, literal
        assert response.content_type == "application/problem+json"
    assert_nothing_published(client, key, tenant_id, events_sink)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "events"),
        ({"events": None}, "events"),
        ({"events": {"eventId": "x"}}, "events"),
        ({"events": []}, "events"),
        ([CONTRACT], None),
    ],
)
def test_bad_batch_shapes(client, tenant, events_sink, body, field):
    tenant_id, key = tenant
    response = post(client, key, body)
    assert response.status_code == 400
    problem = response.get_json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_too_many_events_is_413(client, tenant, events_sink):
    tenant_id, key = tenant
    os.environ["COATRO_MAX_EVENTS_PER_REQUEST"] = "5"
    clients.reset()
    response = post(client, key, {"events": [event(eventId=f"e{i}") for i in range(6)]})
    assert response.status_code == 413
    assert "at most 5 events" in response.get_json()["detail"]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_body_over_limit_is_413_plain_and_gzip_bomb(client, tenant, events_sink):
    tenant_id, key = tenant
    big = {"events": [event(context={"pad": "x" * (11 * 1024 * 1024)})]}
    response = post(client, key, big)
    assert response.status_code == 413 and response.content_type == "application/problem+json"
    # 200 MB of zeros in about 200 KB: the function stops inflating at the limit.
    bomb = gzip.compress(b"0" * (200 * 1024 * 1024), compresslevel=9)
    response = post(client, key, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.get_json()["detail"]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_wrong_content_type_malformed_json_and_bad_gzip(client, tenant, events_sink):
    tenant_id, key = tenant
    response = client.post(
        PATH, data=json.dumps(CONTRACT), headers={"X-API-Key": key, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415 and response.content_type == "application/problem+json"
    response = client.post(PATH, data=json.dumps(CONTRACT), headers={"X-API-Key": key})
    assert response.status_code == 415
    response = post(client, key, b'{"events": [')
    assert response.status_code == 400 and response.get_json()["type"].endswith("/malformed-json")
    response = post(client, key, b"\xff\xfe not utf-8")
    assert response.status_code == 400
    response = post(client, key, b"not gzip", **{"Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.get_json()["type"].endswith("/malformed-gzip")
    response = post(client, key, json.dumps(CONTRACT).encode(), **{"Content-Encoding": "br"})
    assert response.status_code == 415
    assert_nothing_published(client, key, tenant_id, events_sink)


@pytest.mark.parametrize(
    "mangle, says",
    [
        (lambda gz: gz + b"garbage", "after its end"),
        (lambda gz: gz + gzip.compress(b"{}"), "after its end"),  # a second member
        (lambda gz: gz[:-8], "incomplete"),  # no CRC32 and size trailer
        (lambda gz: gz[:-4], "incomplete"),
    ],
    ids=["trailing-garbage", "second-member", "no-trailer", "half-trailer"],
)
def test_gzip_that_is_not_exactly_one_complete_member_is_400(client, tenant, events_sink, mangle, says):
    tenant_id, key = tenant
    body = mangle(gzip.compress(json.dumps({"events": [event(eventId=unique("gz"))]}).encode()))
    response = post(client, key, body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.content_type == "application/problem+json"
    assert response.get_json()["type"].endswith("/malformed-gzip") and says in response.get_json()["detail"]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_wrong_method_is_405(client, tenant):
    _, key = tenant
    response = client.get(PATH, headers={"X-API-Key": key})
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.content_type == "application/problem+json"


def test_missing_unknown_and_revoked_keys_get_the_same_401(client, tenant, events_sink):
    from shared.auth import api_keys

    tenant_id, key = tenant
    revoked = api_keys.create_key(tenant_id)
    assert api_keys.revoke_key_hash(api_keys.key_hash(revoked))
    bodies = []
    for headers in ({}, {"X-API-Key": "ck_unknown"}, {"X-API-Key": revoked}):
        response = client.post(
            PATH, data=json.dumps(CONTRACT), headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code == 401
        assert response.content_type == "application/problem+json"
        bodies.append(response.get_data())
    assert bodies[0] == bodies[1] == bodies[2]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_publish_failure_is_503_with_retry_after(client, tenant):
    _, key = tenant
    os.environ["COATRO_EVENTS_TOPIC"] = unique("no-such-topic")
    clients.reset()
    response = post(client, key, CONTRACT)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["type"].endswith("/unavailable")


POISON = [
    ("lone surrogate", b'{"eventId": "%s", "context": {"k": "\\ud800"}}', "lone UTF-16 surrogate"),
    ("lone surrogate in device", b'{"eventId": "%s", "device": {"k": ["\\udfff"]}}', "lone UTF-16 surrogate"),
    (
        "nesting",
        b'{"eventId": "%s", "context": ' + b'{"a": ' * 300 + b"1" + b"}" * 300 + b"}",
        "cannot be stored as JSON",
    ),
    # Kept exactly or not at all: 1e400 would be published as null, a lone surrogate key as U+FFFD.
    ("number beyond a double", b'{"eventId": "%s", "context": {"n": 1e400}}', "beyond the range"),
    ("negative number beyond a double", b'{"eventId": "%s", "device": {"n": [-1e999]}}', "beyond the range"),
    (
        "lone surrogate in a key",
        b'{"eventId": "%s", "context": {"ok": {"\\ud800k": 1}}}',
        "lone UTF-16 surrogate",
    ),
]


@pytest.mark.parametrize("name, poison, message", POISON, ids=[p[0] for p in POISON])
def test_an_event_that_validates_but_cannot_be_stored_rejects_the_batch_before_anything_is_published(
    client, tenant, events_sink, name, poison, message
):
    tenant_id, key = tenant
    first = json.dumps(event(eventId=unique("fine"))).encode()
    body = b'{"events": [' + first + b", " + poison % unique("poison").encode() + b"]}"
    response = post(client, key, body)
    problem = response.get_json()
    assert response.status_code == 400 and "errors" in problem, problem
    assert problem["errors"][0]["index"] == 1 and message in problem["errors"][0]["message"], problem
    assert_nothing_published(client, key, tenant_id, events_sink)


@pytest.mark.parametrize("played_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_played_at_whose_utc_time_leaves_the_calendar_is_a_400(client, tenant, events_sink, played_at):
    tenant_id, key = tenant
    response = post(client, key, {"events": [event(playedAt=played_at)]})
    assert response.status_code == 400
    [error] = response.get_json()["errors"]
    assert (error["index"], error["field"]) == (0, "playedAt") and "years 1 to 9999" in error["message"]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_nesting_too_deep_to_read_is_a_400_that_says_so(client, tenant, events_sink):
    tenant_id, key = tenant
    deep = b'{"events": [{"context": ' + b"[" * 985 + b"1" + b"]" * 985 + b"}]}"
    response = post(client, key, deep)
    assert response.status_code == 400 and response.content_type == "application/problem+json"
    problem = response.get_json()
    assert "errors" in problem or "too deeply" in problem["detail"], problem
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_strings_that_look_special_are_kept_exactly(client, tenant, events_sink):
    tenant_id, key = tenant
    context = {"a": "Infinity", "b": "NaN", "c": "\ufffd", "events": ["events"], "n": 1.7976931348623157e308}
    response = post(client, key, {"events": [event(eventId=unique("kept"), context=context)]})
    assert response.status_code == 202
    [msg] = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 1)
    assert msg["data"]["context"] == context


def test_events_twice_in_a_body_is_a_400_but_a_repeated_name_in_an_event_keeps_its_last_value(
    client, tenant, events_sink
):
    tenant_id, key = tenant
    one, two = json.dumps(event(eventId=unique("one"))), json.dumps(event(eventId=unique("two")))
    response = post(client, key, f'{{"events": [{one}], "events": [{two}]}}'.encode())
    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"index": None, "field": "events", "message": "Field given more than once; send one events array"}
    ]
    assert_nothing_published(client, key, tenant_id, events_sink)
    event_id = unique("last")
    response = post(
        client,
        key,
        f'{{"events": [{{"eventId": "{event_id}", "screenId": "first", "screenId": "last"}}]}}'.encode(),
    )
    assert response.status_code == 202
    [msg] = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 1)
    assert msg["data"]["screenId"] == "last"


def test_a_body_of_exactly_the_limit_whose_one_message_is_too_large_for_pub_sub_is_413(
    client, tenant, events_sink
):
    tenant_id, key = tenant
    limit = 10 * 1024 * 1024
    shell = json.dumps({"events": [event(eventId=unique("huge"), context={"pad": ""})]}).encode()
    body = shell.replace(b'"pad": ""', b'"pad": "' + b"x" * (limit - len(shell)) + b'"')
    assert len(body) == limit  # within the body limit, but one message over Pub/Sub's 10 MB
    response = post(client, key, body)
    assert response.status_code == 413 and response.content_type == "application/problem+json"
    assert "Event 0 is too large" in response.get_json()["detail"]
    assert_nothing_published(client, key, tenant_id, events_sink)


def test_a_tenant_over_its_rate_gets_429_with_retry_after_and_another_tenant_does_not(
    client, tenant, events_sink
):
    """Issue 16: one tenant's burst cannot take an instance from the others (shared/auth/tenant_limits.py)."""
    from shared.auth import api_keys

    os.environ["COATRO_TENANT_REQUESTS_PER_SECOND"] = "0.5"
    os.environ["COATRO_TENANT_REQUEST_BURST"] = "2"
    clients.reset()
    tenant_id, key = tenant
    other_key = api_keys.create_key(unique("other"), label="test")
    answers = [post(client, key, {"events": [event(eventId=unique("burst"))]}) for _ in range(3)]
    assert [r.status_code for r in answers] == [202, 202, 429]
    refused = answers[2]
    assert refused.mimetype == "application/problem+json" and refused.headers["Retry-After"] == "2"
    assert refused.get_json()["type"] == "https://coatro.dev/problems/too-many-requests"
    assert post(client, other_key, {"events": [event(eventId=unique("other"))]}).status_code == 202
    got = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 2, timeout=5)
    assert len(got) == 2  # the refused request published nothing
