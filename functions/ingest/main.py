"""Cloud Function `ingest`: POST /coatro/v1/pop/dynamic/bulk/ingest."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.bulk.api import start_ingest
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def ingest(request: Request) -> Response:
    return serve(request, ["POST"], start_ingest)
