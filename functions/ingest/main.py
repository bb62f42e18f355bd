"""Cloud Function `ingest`: POST /coatro/v1/pop/dynamic/bulk/ingest."""

import functions_framework

from shared.bulk_api import start_ingest
from shared.http import serve


@functions_framework.http
def ingest(request):
    return serve(request, ["POST"], start_ingest)
