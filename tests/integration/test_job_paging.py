"""The sweep's paging query on the Firestore emulator: unfinished jobs, a page at a time, in jobId
order, none left out whatever the page size (the sweep used to read only its first page)."""

from shared.platform.encoding import utc_now
from shared.records.jobs import JobRecord
from shared.storage import firestore
from tests.conftest import unique


def test_unfinished_jobs_page_in_job_id_order_without_gaps(stack):
    tag = unique("paging")
    mine = sorted(f"job-bulk-pop-20260101-{tag[-10:]}{i:06x}" for i in range(7))
    for job_id in mine:
        firestore.create_job(
            JobRecord(jobId=job_id, tenantId=tag, fileId="file-x", schemaVersion="1.0", createdAt=utc_now())
        )
    firestore.update_job(mine[3], status="completed")  # a finished job is not swept
    seen, after = [], None
    while True:
        page = firestore.jobs_in_states(("queued", "processing"), 2, after)
        seen += [job.jobId for job in page]
        if len(page) < 2:
            break
        after = page[-1].jobId
    assert seen == sorted(seen)
    assert [job_id for job_id in seen if job_id in mine] == mine[:3] + mine[4:]
