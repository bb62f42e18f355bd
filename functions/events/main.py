"""Cloud Function `events`: POST /coatro/v1/pop/events."""

import functions_framework

from shared.events.api import accept_events
from shared.platform.http import serve


@functions_framework.http
def events(request):
    return serve(request, ["POST"], accept_events)
