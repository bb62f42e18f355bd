"""Firestore documents of scheduled report drops (docs/report-drops.md). Typed records in and out.

Documents:
- `reportSchedules/{tenantId}:{scheduleId}`: `ReportScheduleRecord`. The tick finds the ones due with
  `nextRunAt <= now` (a range on one field: an automatic single-field index).
- `reportRuns/{tenantId}:{scheduleId}:{runId}`: `ReportRunRecord`, one per scheduled instant, created
  once (its id is the schedule and the instant). The tick finds the ones to (re)take with
  `retryAt <= now` (a field only unfinished runs hold); a schedule's runs are listed newest first by
  tenantId and scheduleId (the composite index in infra/firestore.tf). `expireAt`: Firestore TTL.

A change is a function of the current record run in one transaction (`change_schedule`,
`change_run`), so claims and attempts are decided on what is committed, never on a stale read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from shared.platform import clients
from shared.records.report_schedules import ReportRunRecord, ReportScheduleRecord
from shared.storage.firestore import MAX_BATCH_WRITES, _bounded, _read, in_transaction

if TYPE_CHECKING:
    from google.cloud.firestore_v1.document import DocumentReference

SCHEDULES, RUNS = "reportSchedules", "reportRuns"
R = TypeVar("R", ReportScheduleRecord, ReportRunRecord)


def _schedule(tenant_id: str, schedule_id: str) -> DocumentReference:
    return clients.firestore().collection(SCHEDULES).document(f"{tenant_id}:{schedule_id}")


def _run(tenant_id: str, schedule_id: str, run_id: str) -> DocumentReference:
    return clients.firestore().collection(RUNS).document(f"{tenant_id}:{schedule_id}:{run_id}")


def get_schedule(tenant_id: str, schedule_id: str) -> ReportScheduleRecord | None:
    return _read(_schedule(tenant_id, schedule_id), ReportScheduleRecord)


def _change(
    ref: DocumentReference, model: type[R], change: Callable[[R | None], R | None]
) -> tuple[R | None, R | None]:
    """(before, written) of `change(current)` in one transaction; written is None when change wrote nothing."""

    def work(transaction: Any) -> tuple[R | None, R | None]:
        current = _read(ref, model, transaction)
        new = change(current)
        if new is not None:
            transaction.set(ref, new.model_dump())
        return current, new

    return in_transaction(work)


def change_schedule(
    tenant_id: str,
    schedule_id: str,
    change: Callable[[ReportScheduleRecord | None], ReportScheduleRecord | None],
) -> tuple[ReportScheduleRecord | None, ReportScheduleRecord | None]:
    return _change(_schedule(tenant_id, schedule_id), ReportScheduleRecord, change)


def delete_schedule(tenant_id: str, schedule_id: str) -> bool:
    """Delete a schedule and its run records (not its files: the bucket's lifecycle deletes them);
    False if there was none."""
    ref = _schedule(tenant_id, schedule_id)
    if not ref.get(**_bounded()).exists:
        return False
    ref.delete(**_bounded())
    while True:  # runs of at most a retention period: a few hundred documents
        runs = list(_runs_query(tenant_id, schedule_id).limit(MAX_BATCH_WRITES).stream(**_bounded()))
        if not runs:
            return True
        batch = clients.firestore().batch()
        for snap in runs:
            batch.delete(snap.reference)
        batch.commit(**_bounded())


def list_schedules(tenant_id: str, after: str | None, limit: int) -> list[ReportScheduleRecord]:
    """Up to `limit` schedules of a tenant in scheduleId order, after scheduleId `after`."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = clients.firestore().collection(SCHEDULES)
    query = collection.where(filter=FieldFilter("tenantId", "==", tenant_id)).order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": collection.document(f"{tenant_id}:{after}")})
    return [
        ReportScheduleRecord.model_validate(snap.to_dict())
        for snap in query.limit(limit).stream(**_bounded())
    ]


def count_schedules(tenant_id: str) -> int:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = clients.firestore().collection(SCHEDULES).where(filter=FieldFilter("tenantId", "==", tenant_id))
    result: Any = query.count().get(**_bounded())  # [[AggregationResult]]
    return int(result[0][0].value)


def due_schedules(now: str, limit: int) -> list[ReportScheduleRecord]:
    """Up to `limit` schedules of every tenant whose nextRunAt is at or before `now`, oldest first."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(SCHEDULES)
        .where(filter=FieldFilter("nextRunAt", "<=", now))
        .order_by("nextRunAt")
        .limit(limit)
    )
    return [ReportScheduleRecord.model_validate(snap.to_dict()) for snap in query.stream(**_bounded())]


def get_run(tenant_id: str, schedule_id: str, run_id: str) -> ReportRunRecord | None:
    return _read(_run(tenant_id, schedule_id, run_id), ReportRunRecord)


def claim_run(
    tenant_id: str,
    schedule_id: str,
    decide: Callable[
        [ReportScheduleRecord | None], tuple[ReportScheduleRecord, ReportRunRecord | None] | None
    ],
) -> ReportRunRecord | None:
    """In one transaction: `decide(schedule)` says how the schedule moves on and which run it is due
    for (None: not due, or gone; a run of None: moved on without one). The run is created only if
    its document does not exist yet (a run is created once); the schedule is written either way.
    The run created, else None."""
    schedule_ref = _schedule(tenant_id, schedule_id)

    def work(transaction: Any) -> ReportRunRecord | None:
        current = _read(schedule_ref, ReportScheduleRecord, transaction)
        decided = decide(current)
        if decided is None:
            return None
        schedule, run = decided
        created = None
        if run is not None:
            run_ref = _run(tenant_id, schedule_id, run.runId)
            if not run_ref.get(transaction=transaction).exists:
                transaction.create(run_ref, run.model_dump())
                created = run
        transaction.set(schedule_ref, schedule.model_dump())
        return created

    return in_transaction(work)


def change_run(
    tenant_id: str,
    schedule_id: str,
    run_id: str,
    change: Callable[[ReportRunRecord | None], ReportRunRecord | None],
) -> tuple[ReportRunRecord | None, ReportRunRecord | None]:
    return _change(_run(tenant_id, schedule_id, run_id), ReportRunRecord, change)


def runs_to_take(now: str, limit: int) -> list[ReportRunRecord]:
    """Up to `limit` unfinished runs of every tenant whose retryAt is at or before `now`, oldest first."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(RUNS)
        .where(filter=FieldFilter("retryAt", "<=", now))
        .order_by("retryAt")
        .limit(limit)
    )
    return [ReportRunRecord.model_validate(snap.to_dict()) for snap in query.stream(**_bounded())]


def _runs_query(tenant_id: str, schedule_id: str) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return (
        clients.firestore()
        .collection(RUNS)
        .where(filter=FieldFilter("tenantId", "==", tenant_id))
        .where(filter=FieldFilter("scheduleId", "==", schedule_id))
    )


def list_runs(tenant_id: str, schedule_id: str, before: str | None, limit: int) -> list[ReportRunRecord]:
    """Up to `limit` runs of a schedule, newest first, before run `before` (a runId)."""
    from google.cloud.firestore_v1 import Query

    query = _runs_query(tenant_id, schedule_id).order_by("__name__", direction=Query.DESCENDING)
    if before is not None:
        query = query.start_after({"__name__": _run(tenant_id, schedule_id, before)})
    return [
        ReportRunRecord.model_validate(snap.to_dict()) for snap in query.limit(limit).stream(**_bounded())
    ]
