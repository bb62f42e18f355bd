"""Cloud Function `sweeper`: a `pop-sweeps` message (Cloud Scheduler, every minute) restarts stuck jobs."""

import functions_framework

from shared.bulk.models import SweepRequest
from shared.bulk.pipeline import sweep_jobs
from shared.platform.cloudevents import handle_event, pubsub_message


@functions_framework.cloud_event
def sweeper(cloud_event):
    handle_event(cloud_event, lambda: sweep_jobs(pubsub_message(cloud_event, SweepRequest)))
