"""Cloud Function `screens`: /coatro/v1/pop/screens[/{screenId}[/history]] and /screens/import, the screen registry."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.platform.http import http_error_response, serve
from shared.screens.api import handle

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def screens(request: Request) -> Response:
    return serve(request, ["GET", "PUT", "POST", "DELETE"], handle)
