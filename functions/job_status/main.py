"""Cloud Function `job_status`: GET /coatro/v1/pop/dynamic/bulk/jobs/{jobId} and .../{jobId}/errors."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.bulk.api import job_status as get_job_status
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def job_status(request: Request) -> Response:
    return serve(request, ["GET"], get_job_status)
