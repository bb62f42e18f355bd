"""Cloud Function `reports`: GET /coatro/v1/pop/reports/delivery and /reports/performance,
GET /coatro/v1/pop/reports/plays, POST /coatro/v1/pop/exports/plays and GET /coatro/v1/pop/exports/{exportId}."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.platform.http import http_error_response, serve
from shared.platform.problems import method_not_allowed
from shared.reports import api, plays_api

functions_framework.errorhandler(HTTPException)(http_error_response)


def _route(request: Request) -> Response:
    response = plays_api.handle(request)
    if response is not None:
        return response
    if request.method != "GET":
        raise method_not_allowed(["GET"])
    return api.handle(request)


@functions_framework.http
def reports(request: Request) -> Response:
    return serve(request, ["GET", "POST"], _route)
