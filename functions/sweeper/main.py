"""Cloud Function `sweeper`: a `pop-sweeps` message (Cloud Scheduler, every minute) restarts stuck jobs,
then exports to BigQuery the screen versions whose export has not happened yet (shared/screens/sync.py),
then, at most once an hour, checks the bookings in flight (shared/reports/checks.py)."""

from datetime import UTC, datetime

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.bulk.models import SweepRequest
from shared.bulk.pipeline.sweep import sweep_jobs
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response
from shared.reports.checks import run_hourly
from shared.screens.sync import export_pending

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def sweeper(cloud_event: CloudEvent) -> None:
    def sweep() -> None:
        sweep_jobs(pubsub_message(cloud_event, SweepRequest))
        export_pending()
        run_hourly(datetime.now(UTC))

    handle_event(cloud_event, sweep)
