"""Cloud Function `token`: POST /coatro/v1/oauth/token (OAuth2 client credentials)."""

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.auth.tokens import issue_token
from shared.platform.http import http_error_response, serve

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.http
def token(request: Request) -> Response:
    return serve(request, ["POST"], issue_token)
