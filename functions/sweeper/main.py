"""Cloud Function `sweeper`: a `pop-sweeps` message (Cloud Scheduler, every minute) restarts stuck jobs."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.bulk.models import SweepRequest
from shared.bulk.pipeline.sweep import sweep_jobs
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def sweeper(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: sweep_jobs(pubsub_message(cloud_event, SweepRequest)))
