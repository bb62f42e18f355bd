"""Cloud Function `events`: POST /coatro/v1/pop/events."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.events.api import accept_events
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def events(request: Request) -> Response:
    return serve(request, ["POST"], accept_events)
