"""Cloud Function `job_status`: GET /coatro/v1/pop/dynamic/bulk/jobs/{jobId} and .../{jobId}/errors."""

import functions_framework

from shared.bulk.api import job_status as get_job_status
from shared.platform.http import serve


@functions_framework.http
def job_status(request):
    return serve(request, ["GET"], get_job_status)
