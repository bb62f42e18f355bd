"""The BigQuery mirror's export (shared/screens/sync.py) against a fake insertAll: batches of 500 with
one insert id per version, a mark removed only for rows BigQuery took, and no exception ever reaching
the caller (a registry write stands whatever BigQuery does)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from shared.platform import clients
from shared.screens import history, sync
from shared.storage import firestore

FIELDS = {"timeZone": "Europe/London", "market": "London"}


def versions(count: int) -> list:
    return [history.put(None, "t", f"s-{i}", FIELDS, "2026-01-05T10:00:00.000Z").opened for i in range(count)]


class FakeBigQuery:
    def __init__(self, answer=None):
        self.calls: list[dict] = []
        self.answer = answer or (lambda rows: [])

    def insert_rows_json(self, table, rows, row_ids, **kwargs):
        self.calls.append({"table": table, "rows": rows, "row_ids": row_ids, **kwargs})
        return self.answer(rows)


@pytest.fixture
def marks(monkeypatch):
    """The versions whose marks were removed."""
    cleared: list = []
    monkeypatch.setattr(firestore, "screen_versions_exported", lambda records: cleared.extend(records))
    return cleared


def use(monkeypatch, fake: FakeBigQuery) -> None:
    monkeypatch.setattr(clients, "bigquery", lambda: fake)


def test_rows_go_in_batches_of_500_with_one_insert_id_per_version(monkeypatch, marks):
    fake = FakeBigQuery()
    use(monkeypatch, fake)
    records = versions(1001)
    assert sync.export_versions(records) == 1001
    assert [len(call["rows"]) for call in fake.calls] == [500, 500, 1]
    assert fake.calls[0]["row_ids"][:2] == ["t:s-0:1", "t:s-1:1"]
    assert fake.calls[0]["table"] == clients.screens_table()
    assert fake.calls[0]["timeout"] == sync.INSERT_TIMEOUT_SECONDS
    assert fake.calls[0]["rows"][0]["minDurationMs"] == 1000  # dimension.bigquery_row
    assert marks == records


def test_a_failing_bigquery_never_raises_and_leaves_the_marks(monkeypatch, marks, capsys):
    def unavailable(rows):
        raise exceptions.ServiceUnavailable("injected fault")

    use(monkeypatch, FakeBigQuery(unavailable))
    assert sync.export_versions(versions(3)) == 0
    assert marks == []
    assert "the sweeper retries them" in capsys.readouterr().err


def test_only_the_rows_bigquery_took_lose_their_marks(monkeypatch, marks):
    use(monkeypatch, FakeBigQuery(lambda rows: [{"index": 1, "errors": [{"reason": "invalid"}]}]))
    records = versions(3)
    assert sync.export_versions(records) == 2
    assert marks == [records[0], records[2]]


def test_a_mark_that_cannot_be_removed_is_no_error(monkeypatch, capsys):
    use(monkeypatch, FakeBigQuery())

    def firestore_down(records):
        raise exceptions.ServiceUnavailable("injected fault")

    monkeypatch.setattr(firestore, "screen_versions_exported", firestore_down)
    assert sync.export_versions(versions(2)) == 2  # written; exported again later, a duplicate readers drop
    assert "will be exported again" in capsys.readouterr().err


@pytest.fixture
def outboxes(monkeypatch):
    """The import batches' outbox documents deleted."""
    deleted: list = []
    monkeypatch.setattr(firestore, "screen_exports_done", deleted.extend)
    return deleted


def test_an_import_batch_is_one_insert_then_its_outbox_document_is_deleted(monkeypatch, outboxes, marks):
    fake = FakeBigQuery()
    use(monkeypatch, fake)
    assert sync.export_batch("box-1", versions(150)) == 150
    assert [len(call["rows"]) for call in fake.calls] == [150]
    assert fake.calls[0]["row_ids"][0] == "t:s-0:1"
    assert fake.calls[0]["timeout"] == sync.INSERT_TIMEOUT_SECONDS
    assert outboxes == ["box-1"]
    assert marks == []  # an import's versions are not marked: nothing to remove per version


def test_an_import_batch_bigquery_fails_or_refuses_keeps_its_outbox_document(monkeypatch, outboxes, capsys):
    def unavailable(rows):
        raise exceptions.ServiceUnavailable("injected fault")

    use(monkeypatch, FakeBigQuery(unavailable))
    assert sync.export_batch("box-1", versions(3)) == 0
    use(monkeypatch, FakeBigQuery(lambda rows: [{"index": 1, "errors": [{"reason": "invalid"}]}]))
    assert sync.export_batch("box-2", versions(3)) == 2
    assert outboxes == []
    assert "the sweeper retries them" in capsys.readouterr().err


def test_an_outbox_document_that_cannot_be_deleted_is_no_error(monkeypatch, capsys):
    use(monkeypatch, FakeBigQuery())

    def firestore_down(export_id):
        raise exceptions.ServiceUnavailable("injected fault")

    monkeypatch.setattr(firestore, "screen_exports_done", firestore_down)
    assert sync.export_batch("box-1", versions(2)) == 2
    assert "will be exported again" in capsys.readouterr().err


def test_an_imports_batches_are_exported_a_few_per_insert(monkeypatch):
    fake = FakeBigQuery()
    use(monkeypatch, fake)
    deleted: list = []
    monkeypatch.setattr(firestore, "screen_exports_done", lambda ids: deleted.append(list(ids)))
    exporter = sync.BatchExporter()
    for i in range(5):  # 150 rows each: three fit one insert of at most 500
        exporter(f"box-{i}", versions(150))
    assert [len(call["rows"]) for call in fake.calls] == [450]
    assert deleted == [["box-0", "box-1", "box-2"]]
    exporter.flush()
    assert [len(call["rows"]) for call in fake.calls] == [450, 300]
    assert deleted[1] == ["box-3", "box-4"]
    exporter.flush()  # nothing left
    assert len(fake.calls) == 2


def test_a_group_bigquery_fails_keeps_every_outbox_document_of_it(monkeypatch):
    def unavailable(rows):
        raise exceptions.ServiceUnavailable("injected fault")

    use(monkeypatch, FakeBigQuery(unavailable))
    deleted: list = []
    monkeypatch.setattr(firestore, "screen_exports_done", deleted.append)
    exporter = sync.BatchExporter()
    exporter("box-0", versions(2))
    exporter.flush()
    assert deleted == []
