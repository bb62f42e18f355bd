"""Cloud Function `webhooks`: /coatro/v1/pop/webhooks[/{webhookId}[/rotate-secret|/deliveries]], a tenant's webhook endpoints."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.notify.api import handle
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def webhooks(request: Request) -> Response:
    return serve(request, ["GET", "PUT", "POST", "DELETE"], handle)
