"""Cloud Function `token`: POST /coatro/v1/oauth/token (OAuth2 client credentials)."""

import functions_framework

from shared.auth.tokens import issue_token
from shared.platform.http import serve


@functions_framework.http
def token(request):
    return serve(request, ["POST"], issue_token)
