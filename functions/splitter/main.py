"""Cloud Function `splitter`: Cloud Storage object finalized in the uploads bucket."""

import functions_framework

from shared.pipeline import split_upload


@functions_framework.cloud_event
def splitter(cloud_event):
    data = cloud_event.data
    split_upload(data["bucket"], data["name"], int(data["generation"]), int(data["size"]), data.get("crc32c"))
