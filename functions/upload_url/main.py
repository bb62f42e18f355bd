"""Cloud Function `upload_url`: POST /coatro/v1/pop/dynamic/bulk/upload-url."""

import functions_framework

from shared.bulk.api import create_upload_url
from shared.platform.http import serve


@functions_framework.http
def upload_url(request):
    return serve(request, ["POST"], create_upload_url)
