"""Cloud Function `schemas`: /coatro/v1/pop/dynamic/schemas[/{version}[/preview]] and .../schemas/preview."""

import functions_framework

from shared.bulk.schema_api import handle
from shared.platform.http import serve


@functions_framework.http
def schemas(request):
    return serve(request, ["GET", "PUT", "POST"], handle)
