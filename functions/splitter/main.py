"""Cloud Function `splitter`: Cloud Storage object finalized in the uploads bucket."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.bulk.pipeline.splitter import split_upload
from shared.platform.cloudevents import handle_event, storage_object
from shared.platform.http import http_error_response

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def splitter(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: split_upload(storage_object(cloud_event)))
