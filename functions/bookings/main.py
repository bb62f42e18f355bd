"""Cloud Function `bookings`: /coatro/v1/pop/bookings[/{bookingId}[/history]], what was sold."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.bookings.api import handle
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def bookings(request: Request) -> Response:
    return serve(request, ["GET", "PUT", "DELETE"], handle)
