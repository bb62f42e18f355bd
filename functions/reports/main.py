"""Cloud Function `reports`: GET /coatro/v1/pop/reports/delivery."""

import functions_framework

from shared.platform.http import serve
from shared.reports.api import delivery


@functions_framework.http
def reports(request):
    return serve(request, ["GET"], delivery)
