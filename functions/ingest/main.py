"""Cloud Function `ingest`: POST /coatro/v1/pop/dynamic/bulk/ingest."""

import functions_framework

from shared.bulk.api import start_ingest
from shared.platform.http import serve


@functions_framework.http
def ingest(request):
    return serve(request, ["POST"], start_ingest)
