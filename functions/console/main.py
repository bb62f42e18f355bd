"""Cloud Function `console`: GET /console/ and its static files (the web console, docs/console.md)."""

from pathlib import Path

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.console.assets import serve
from shared.platform.http import http_error_response

STATIC = Path(__file__).resolve().parent / "static"

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def console(request: Request) -> Response:
    return serve(request, STATIC)
