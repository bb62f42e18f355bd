"""Cloud Function `exporter`: one `pop-exports` message (Pub/Sub push) per call writes a play export's
next parts (shared/reports/exports.py)."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response
from shared.reports.exports import ExportMessage, run_export

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def exporter(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: run_export(pubsub_message(cloud_event, ExportMessage)))
