"""A tenant's bulk jobs, newest first: the read behind GET .../bulk/jobs (the console's Jobs page).

Reads the existing `jobs` collection (shared/storage/firestore.py writes it; nothing new is stored):
`tenantId == T [and status == S]` ordered by `createdAt` descending, then document name descending
(ties). Served by the composite indexes `jobs (tenantId, createdAt desc, __name__ desc)` and
`jobs (tenantId, status, createdAt desc, __name__ desc)` in infra/firestore.tf. `createdAt` is an RFC
3339 UTC string of fixed width (shared.platform.encoding.iso_utc), so its text order is time order.
"""

from __future__ import annotations

from shared.platform import clients
from shared.records.jobs import JobRecord, JobState
from shared.storage.firestore import JOBS, _bounded


def tenant_jobs(
    tenant_id: str, status: JobState | None, after: tuple[str, str] | None, limit: int
) -> list[JobRecord]:
    """Up to `limit` jobs of a tenant (of one status if given), newest first, after the position
    `after` = (createdAt, jobId) of the last job of the previous read."""
    from google.cloud.firestore_v1 import Query
    from google.cloud.firestore_v1.base_query import FieldFilter

    jobs = clients.firestore().collection(JOBS)
    query = jobs.where(filter=FieldFilter("tenantId", "==", tenant_id))
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status))
    query = query.order_by("createdAt", direction=Query.DESCENDING).order_by(
        "__name__", direction=Query.DESCENDING
    )
    if after is not None:
        query = query.start_after({"createdAt": after[0], "__name__": jobs.document(after[1])})
    return [JobRecord.model_validate(snap.to_dict()) for snap in query.limit(limit).stream(**_bounded())]
