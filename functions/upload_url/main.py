"""Cloud Function `upload_url`: POST /coatro/v1/pop/dynamic/bulk/upload-url."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.bulk.api import create_upload_url
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def upload_url(request: Request) -> Response:
    return serve(request, ["POST"], create_upload_url)
