"""Cloud Function `report_schedules`: /coatro/v1/pop/report-schedules[/{scheduleId}[/files|/runs]],
a tenant's scheduled report drops."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.platform.http import http_error_response, serve
from shared.reports.schedules_api import handle

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def report_schedules(request: Request) -> Response:
    return serve(request, ["GET", "PUT", "DELETE"], handle)
