"""Cloud Function `reports`: GET /coatro/v1/pop/reports/delivery and /reports/performance."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.platform.http import http_error_response, serve
from shared.reports.api import handle

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def reports(request: Request) -> Response:
    return serve(request, ["GET"], handle)
