"""The registry's BigQuery mirror (shared/screens/sync.py) on the emulators: a PUT writes its version's
row to the `screens` table; a PUT whose BigQuery write fails still succeeds, its version stays marked
and the sweep writes it; exporting again leaves one row per version once readers dedupe. An import
writes its rows right after each batch commits; a batch whose BigQuery write fails keeps its outbox
document, which the sweep exports and deletes."""

from __future__ import annotations

from datetime import datetime

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from shared.platform import clients
from shared.screens import sync
from shared.storage import firestore
from tests import cloudevents
from tests.conftest import unique
from tests.integration.conftest import _client
from tests.integration.test_screens_function import SCREEN, SCREENS

# What a reader does (docs/screens.md, "The BigQuery mirror"): one row per version, validTo from LEAD.
READER_SQL = """
SELECT tenantId, screenId, version, validFrom, market, activeTo,
       LEAD(validFrom) OVER (PARTITION BY tenantId, screenId ORDER BY version) AS validTo
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY tenantId, screenId, version ORDER BY writtenAt) AS copy
  FROM `{table}` WHERE tenantId = @tenant AND screenId = @screen
) WHERE copy = 1
ORDER BY version
"""


def _query(sql: str, tenant_id: str, screen_id: str) -> list[dict]:
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("tenant", "STRING", tenant_id),
            bigquery.ScalarQueryParameter("screen", "STRING", screen_id),
        ]
    )
    rows = clients.bigquery().query_and_wait(sql.format(table=clients.screens_table()), job_config=config)
    return [dict(row) for row in rows]


def raw_rows(tenant_id: str, screen_id: str) -> list[dict]:
    """Every row of a screen in the table, duplicates included."""
    sql = (
        "SELECT * FROM `{table}` WHERE tenantId = @tenant AND screenId = @screen ORDER BY version, writtenAt"
    )
    return _query(sql, tenant_id, screen_id)


def reader_rows(tenant_id: str, screen_id: str) -> list[dict]:
    return _query(READER_SQL, tenant_id, screen_id)


def pending(tenant_id: str, screen_id: str, version: int) -> bool:
    path = f"screens/{tenant_id}:{screen_id}/versions/{firestore.screen_version_id(version)}"
    document = clients.firestore().document(path).get().to_dict()
    return bool(document.get(firestore.EXPORT_PENDING))


def outbox(tenant_id: str) -> list[dict]:
    """A tenant's import outbox documents (screenExports) still there."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(firestore.SCREEN_EXPORTS)
        .where(filter=FieldFilter("tenantId", "==", tenant_id))
    )
    return [snap.to_dict() for snap in query.stream()]


@pytest.fixture
def api(stack, tenant):
    """The `screens` function in-process, with the tenant's API key."""
    client, headers = _client("screens"), {"X-API-Key": tenant[1]}

    class Api:
        tenant_id = tenant[0]

        def put(self, screen_id, body):
            return client.put(f"{SCREENS}/{screen_id}", json=body, headers=headers)

        def delete(self, screen_id):
            return client.delete(f"{SCREENS}/{screen_id}", headers=headers)

        def import_csv(self, text):
            return client.post(
                f"{SCREENS}/import", data=text, headers={**headers, "Content-Type": "text/csv"}
            )

    return Api()


@pytest.fixture
def bigquery_fault(monkeypatch):
    """A small fault: BigQuery's insertAll answers 503 for the next `times` calls, then works again."""
    original = bigquery.Client.insert_rows_json
    left = {"times": 0}

    def insert_rows_json(self, *args, **kwargs):
        if left["times"] > 0:
            left["times"] -= 1
            raise exceptions.ServiceUnavailable("injected fault: BigQuery insertAll unavailable")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(bigquery.Client, "insert_rows_json", insert_rows_json)

    def fail(times: int = 1) -> None:
        left["times"] = times

    return fail


def test_a_put_writes_its_versions_row(api):
    screen_id = unique("scr")
    schedule = [[float(day * 24 + hour) / 10 for hour in range(24)] for day in range(7)]
    body = {
        **SCREEN,
        "location": {"lat": 51.47, "lon": -0.45},
        "audience": {"impressionSchedule": schedule, "sourceType": 1, "vendor": "Route"},
    }
    created = api.put(screen_id, body)
    assert created.status_code == 201, created.get_json()
    assert not pending(api.tenant_id, screen_id, 1)

    [row] = raw_rows(api.tenant_id, screen_id)
    assert (row["tenantId"], row["screenId"], row["version"]) == (api.tenant_id, screen_id, 1)
    assert row["validFrom"] == datetime.fromisoformat(created.get_json()["validFrom"])
    assert (row["name"], row["timeZone"], row["venueType"], row["country"], row["market"]) == (
        "Lobby",
        "Europe/London",
        10101,
        "GB",
        "London",
    )
    assert (row["lat"], row["lon"], row["screens"], row["activeTo"]) == (51.47, -0.45, 1, None)
    assert (row["sourceType"], row["vendor"]) == (1, "Route")
    slots = row["impressionSchedule"]
    assert len(slots) == 168
    assert slots[2 * 24 + 14] == pytest.approx(schedule[2][14])  # Wednesday 14:00
    assert (row["minDurationMs"], row["minShareOfPlanned"]) == (1000, None)  # qualification defaults
    assert row["writtenAt"] is not None


def test_a_failed_bigquery_write_is_retried_by_the_sweep_never_lost(api, bigquery_fault, monkeypatch):
    screen_id = unique("scr")
    assert api.put(screen_id, SCREEN).status_code == 201
    bigquery_fault(times=1)
    replaced = api.put(screen_id, {**SCREEN, "market": "Leeds"})
    assert replaced.status_code == 200, replaced.get_json()  # the registry write stands
    assert replaced.get_json()["version"] == 2
    assert pending(api.tenant_id, screen_id, 2) and not pending(api.tenant_id, screen_id, 1)
    assert [r["version"] for r in raw_rows(api.tenant_id, screen_id)] == [1]

    # Too recent for the sweep: left to its writer for a minute.
    assert sync.export_pending(budget_seconds=30) >= 0
    assert pending(api.tenant_id, screen_id, 2)

    # The sweeper, as Cloud Scheduler starts it, once the version is older than PENDING_AGE_SECONDS.
    monkeypatch.setattr(sync, "PENDING_AGE_SECONDS", 0.0)
    envelope = cloudevents.pubsub_push(b"{}")
    response = cloudevents.post_pubsub_push(_client("sweeper"), envelope)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert not pending(api.tenant_id, screen_id, 2)
    rows = reader_rows(api.tenant_id, screen_id)
    assert [(r["version"], r["market"]) for r in rows] == [(1, "London"), (2, "Leeds")]
    assert rows[0]["validTo"] == rows[1]["validFrom"] and rows[1]["validTo"] is None


def test_a_retire_writes_its_version_and_a_second_export_leaves_one_row_per_version(api):
    screen_id = unique("scr")
    assert api.put(screen_id, SCREEN).status_code == 201
    retired = api.delete(screen_id)
    assert retired.status_code == 200 and retired.get_json()["version"] == 2
    assert api.delete(screen_id).status_code == 200  # retired already: nothing written, nothing exported
    assert [r["version"] for r in raw_rows(api.tenant_id, screen_id)] == [1, 2]

    # Exported again (a sweep racing the writer, a mark left after a Firestore failure): the same rows.
    versions = firestore.screen_versions(api.tenant_id, screen_id, None, 10)
    assert sync.export_versions(versions) == 2
    assert sync.export_pending(min_age_seconds=0) >= 0  # nothing of this screen is marked any more
    assert len(raw_rows(api.tenant_id, screen_id)) in (2, 4)  # insert ids may or may not drop them
    rows = reader_rows(api.tenant_id, screen_id)
    assert [(r["version"], r["activeTo"] is None) for r in rows] == [(1, True), (2, False)]
    assert rows[0]["validTo"] == rows[1]["validFrom"]


def test_the_retry_pages_through_every_marked_version(api, bigquery_fault):
    screen_ids = [unique("scr") for _ in range(3)]
    bigquery_fault(times=3)
    for screen_id in screen_ids:
        assert api.put(screen_id, SCREEN).status_code == 201
    assert all(pending(api.tenant_id, s, 1) for s in screen_ids)
    assert sync.export_pending(page=1, min_age_seconds=0) >= 3  # pages of one version each
    assert not any(pending(api.tenant_id, s, 1) for s in screen_ids)
    assert all([r["version"] for r in raw_rows(api.tenant_id, s)] == [1] for s in screen_ids)
    sync.export_pending(min_age_seconds=0)  # a second run writes none of them again
    assert all([r["version"] for r in raw_rows(api.tenant_id, s)] == [1] for s in screen_ids)


def test_an_import_writes_its_rows_right_after_the_request(api):
    screen_ids = [unique("imp") for _ in range(3)]
    body = "screenId,timeZone,market\n" + "".join(f"{s},Europe/London,London\n" for s in screen_ids)
    answer = api.import_csv(body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["created"] == 3
    for screen_id in screen_ids:
        [row] = raw_rows(api.tenant_id, screen_id)
        assert (row["screenId"], row["version"], row["market"]) == (screen_id, 1, "London")
        assert not pending(api.tenant_id, screen_id, 1)  # an import's versions are never marked
    assert outbox(api.tenant_id) == []  # exported: the batch's outbox document is gone

    replaced = api.import_csv(body.replace("London\n", "Leeds\n"))
    assert replaced.get_json()["replaced"] == 3
    rows = reader_rows(api.tenant_id, screen_ids[0])
    assert [(r["version"], r["market"]) for r in rows] == [(1, "London"), (2, "Leeds")]
    assert outbox(api.tenant_id) == []


def test_an_import_whose_bigquery_write_fails_keeps_its_outbox_for_the_sweep(api, bigquery_fault):
    screen_ids = [unique("imp") for _ in range(2)]
    body = "screenId,timeZone,market\n" + "".join(f"{s},Europe/London,Leeds\n" for s in screen_ids)
    bigquery_fault(times=1)
    answer = api.import_csv(body)
    assert answer.status_code == 200, answer.get_json()  # the registry write stands
    assert answer.get_json()["created"] == 2
    assert all(raw_rows(api.tenant_id, s) == [] for s in screen_ids)
    [kept] = outbox(api.tenant_id)
    assert sorted((v["screenId"], v["version"]) for v in kept["versions"]) == sorted(
        (s, 1) for s in screen_ids
    )
    assert not any(pending(api.tenant_id, s, 1) for s in screen_ids)

    assert sync.export_pending(budget_seconds=30) >= 0  # too recent for the sweep: left to its writer
    assert len(outbox(api.tenant_id)) == 1

    assert sync.export_pending(min_age_seconds=0, page=1) >= 2
    assert outbox(api.tenant_id) == []
    for screen_id in screen_ids:
        assert [(r["version"], r["market"]) for r in reader_rows(api.tenant_id, screen_id)] == [(1, "Leeds")]
