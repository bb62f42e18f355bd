"""Cloud Function `report_drops`: a `pop-report-ticks` message (Cloud Scheduler, every 5 minutes) runs
the report schedules due and writes their files to the drops bucket (shared/reports/drops.py)."""

from datetime import UTC, datetime

import functions_framework
from cloudevents.http import CloudEvent
from pydantic import BaseModel, ConfigDict
from werkzeug.exceptions import HTTPException

from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response
from shared.reports.drops import tick

functions_framework.errorhandler(HTTPException)(http_error_response)


class Tick(BaseModel):
    """The data of one tick (Cloud Scheduler sends `{}`): run what is due now."""

    model_config = ConfigDict(extra="ignore")


@functions_framework.cloud_event
def report_drops(cloud_event: CloudEvent) -> None:
    def run() -> None:
        pubsub_message(cloud_event, Tick)
        tick(datetime.now(UTC))

    handle_event(cloud_event, run)
