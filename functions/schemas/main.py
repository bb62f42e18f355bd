"""Cloud Function `schemas`: /coatro/v1/pop/dynamic/schemas[/{version}[/preview]] and .../schemas/preview."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.bulk.schema_api import handle
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def schemas(request: Request) -> Response:
    return serve(request, ["GET", "PUT", "POST"], handle)
