"""Cloud Function `rollups`: a `pop-rollups` message (Cloud Scheduler, every 15 minutes by default)
re-rolls every hour that received events since the watermark (shared/reports/rollups.py)."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.platform.cloudevents import handle_event
from shared.platform.http import http_error_response
from shared.reports.rollups import run

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def rollups(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, run)
